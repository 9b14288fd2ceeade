package payby

// ValidTokenURL exposes validTokenURL to the tests.
var ValidTokenURL = validTokenURL
