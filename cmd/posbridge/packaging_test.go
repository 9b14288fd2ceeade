package main

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const packagingDir = "../../packaging"

// wxsService is the part of packaging/windows/posbridge.wxs checked here.
type wxsService struct {
	Product struct {
		Version   string `xml:"Version,attr"`
		Directory wxsDir `xml:"Directory"`
	} `xml:"Product"`
}

type wxsDir struct {
	ID         string         `xml:"Id,attr"`
	Name       string         `xml:"Name,attr"`
	Dirs       []wxsDir       `xml:"Directory"`
	Components []wxsComponent `xml:"Component"`
}

type wxsComponent struct {
	ID    string `xml:"Id,attr"`
	Files []struct {
		Name string `xml:"Name,attr"`
	} `xml:"File"`
	Service *struct {
		Name      string `xml:"Name,attr"`
		Start     string `xml:"Start,attr"`
		Arguments string `xml:"Arguments,attr"`
	} `xml:"ServiceInstall"`
	Control *struct {
		Name   string `xml:"Name,attr"`
		Stop   string `xml:"Stop,attr"`
		Remove string `xml:"Remove,attr"`
	} `xml:"ServiceControl"`
	CreateFolder *struct{} `xml:"CreateFolder"`
}

// TestMSIRecipe checks what the MSI installs: the exe and the example in
// Program Files, the service under the name and arguments "service install"
// uses, and the data folder in ProgramData.
func TestMSIRecipe(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(packagingDir, "windows", "posbridge.wxs"))
	if err != nil {
		t.Fatal(err)
	}
	var w wxsService
	if err := xml.Unmarshal(b, &w); err != nil {
		t.Fatalf("posbridge.wxs: %v", err)
	}
	dirs := make(map[string]wxsDir)
	var walk func(d wxsDir, path string)
	walk = func(d wxsDir, path string) {
		dirs[path] = d
		for _, c := range d.Dirs {
			walk(c, path+"/"+c.ID)
		}
	}
	walk(w.Product.Directory, w.Product.Directory.ID)

	app, ok := dirs["TARGETDIR/ProgramFiles64Folder/INSTALLDIR"]
	if !ok || app.Name != "posbridge" {
		t.Fatalf("no ProgramFiles64Folder\\posbridge in the MSI: %v", keys(dirs))
	}
	files := make(map[string]bool)
	var svc, ctl bool
	for _, c := range app.Components {
		for _, f := range c.Files {
			files[f.Name] = true
		}
		if s := c.Service; s != nil {
			svc = true
			cfg := serviceConfig(`C:\ProgramData\posbridge\posbridge.toml`)
			if s.Name != cfg.Name || s.Start != "auto" || !strings.HasPrefix(s.Arguments, strings.Join(cfg.Arguments[:2], " ")+" ") ||
				!strings.Contains(s.Arguments, `[CommonAppDataFolder]posbridge\posbridge.toml`) {
				t.Errorf("ServiceInstall = %+v, want %s started automatically with run --config in ProgramData", *s, cfg.Name)
			}
		}
		if c.Control != nil {
			ctl = c.Control.Name == serviceName && c.Control.Stop == "both" && c.Control.Remove == "uninstall"
		}
	}
	if !files["posbridge.exe"] || !files["posbridge.example.toml"] {
		t.Errorf("Program Files gets %v, want posbridge.exe and posbridge.example.toml", keys(files))
	}
	if !svc || !ctl {
		t.Errorf("service registered %v, stopped and removed on uninstall %v: want both", svc, ctl)
	}
	data, ok := dirs["TARGETDIR/CommonAppDataFolder/DATADIR"]
	if !ok || data.Name != "posbridge" || len(data.Components) == 0 || data.Components[0].CreateFolder == nil {
		t.Errorf("no %%ProgramData%%\\posbridge folder created by the MSI")
	}
}

// TestMSIBuilds builds the MSI with wixl, as scripts/build does, around a
// stand-in exe, and reads back the service it registers.
func TestMSIBuilds(t *testing.T) {
	for _, tool := range []string{"wixl", "msiinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's wixl and msitools (scripts/test does on a fresh machine)", tool)
		}
	}
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "posbridge.exe"), "MZ stand-in")
	ex, err := os.ReadFile(filepath.Join(packagingDir, "posbridge.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "posbridge.example.toml"), string(ex))
	wxs, err := filepath.Abs(filepath.Join(packagingDir, "windows", "posbridge.wxs"))
	if err != nil {
		t.Fatal(err)
	}
	// wixl resolves File sources against the working directory only.
	cmd := exec.Command("wixl", "-a", "x64", "-D", "Version=1.2.3", "-D", "Exe=posbridge.exe",
		"-D", "ExampleConfig=posbridge.example.toml", "-o", "posbridge.msi", wxs)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wixl: %v\n%s", err, out)
	}
	out, err := exec.Command("msiinfo", "export", filepath.Join(dir, "posbridge.msi"), "ServiceInstall").CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo: %v\n%s", err, out)
	}
	if s := string(out); !strings.Contains(s, "PosbridgeService\tposbridge\t") || !strings.Contains(s, `run --config "[CommonAppDataFolder]posbridge\posbridge.toml"`) {
		t.Fatalf("MSI ServiceInstall table:\n%s\nwant the posbridge service running with the ProgramData config", s)
	}
}

// TestLinuxPackageRecipe checks the nfpm recipe and the udev rule for what
// the .deb and .rpm must do.
func TestLinuxPackageRecipe(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(packagingDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	nfpm := read("nfpm.yaml")
	for _, want := range []string{
		"dst: /usr/bin/posbridge",
		"src: packaging/linux/posbridge.service\n    dst: /usr/lib/systemd/system/posbridge.service",
		"src: packaging/linux/99-posbridge.rules\n    dst: /usr/share/posbridge/99-posbridge.rules",
		"src: packaging/posbridge.example.toml\n    dst: /usr/share/doc/posbridge/posbridge.example.toml",
		"dst: /usr/share/man/man1/posbridge.1.gz",
		"- libc6 (>= 2.34)",
		"- glibc >= 2.34",
		"postinstall: packaging/linux/postinstall.sh",
		"preremove: packaging/linux/preremove.sh",
	} {
		if !strings.Contains(nfpm, want) {
			t.Errorf("nfpm.yaml lacks %q", want)
		}
	}
	// No package owns the live config or the udev rule IT fills in: an
	// upgrade must never ask about them or replace them.
	for _, owned := range []string{"dst: /etc/posbridge/posbridge.toml", "dst: /etc/udev/", "dst: /usr/lib/udev/"} {
		if strings.Contains(nfpm, owned) {
			t.Errorf("nfpm.yaml installs %q", owned)
		}
	}
	post := read("linux/postinstall.sh")
	if !strings.Contains(post, "useradd --system --user-group --groups dialout") || !strings.Contains(post, " posbridge\n") {
		t.Errorf("postinstall.sh does not create the posbridge system user in dialout")
	}
	// The service is enabled only inside the branch where config check passes.
	check := strings.Index(post, "if posbridge config check ")
	enable := strings.Index(post, "systemctl enable posbridge.service")
	elseAt := strings.Index(post[max(check, 0):], "\nelif ")
	if check < 0 || enable < check || elseAt < 0 || enable > check+elseAt || strings.Count(post, "systemctl enable posbridge.service") != 1 {
		t.Errorf("postinstall.sh enables the service outside the branch where \"posbridge config check\" passes")
	}
	if pre := read("linux/preremove.sh"); !strings.Contains(pre, "systemctl stop posbridge.service") {
		t.Errorf("preremove.sh does not stop the service")
	}
	var rule string
	for _, l := range strings.Split(read("linux/99-posbridge.rules"), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			rule = l
		}
	}
	for _, want := range []string{`SUBSYSTEM=="tty"`, `ATTRS{idVendor}==`, `ATTRS{idProduct}==`, `SYMLINK+="posbridge-terminal"`, `GROUP="dialout"`, `MODE="0660"`} {
		if !strings.Contains(rule, want) {
			t.Errorf("udev rule %q lacks %s", rule, want)
		}
	}
	for _, s := range []string{"linux/postinstall.sh", "linux/preremove.sh", "linux/postremove.sh"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(packagingDir, s)).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
}
