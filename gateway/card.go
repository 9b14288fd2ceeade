package gateway

import "github.com/posbridge/posbridge"

// maxCardBrand is the most of a card's brand posbridge keeps.
const maxCardBrand = 20

// Card is what posbridge keeps of a card a gateway reports: the brand, cut
// to 20 bytes, and the last four digits of number (a masked or full card
// number; none unless it ends in four digits). Nothing else of a card is
// ever kept.
func Card(brand, number string) posbridge.Card {
	if len(brand) > maxCardBrand {
		brand = brand[:maxCardBrand]
	}
	return posbridge.Card{Brand: brand, Last4: last4(number)}
}

// last4 returns the last four digits of s, or "" when it ends otherwise.
func last4(s string) string {
	if len(s) < 4 {
		return ""
	}
	tail := s[len(s)-4:]
	for i := 0; i < 4; i++ {
		if tail[i] < '0' || tail[i] > '9' {
			return ""
		}
	}
	return tail
}
