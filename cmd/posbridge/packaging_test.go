package main

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
			// [CONFIG] defaults to the ProgramData config (TestMSIBuilds).
			if s.Name != cfg.Name || s.Start != "auto" || !strings.HasPrefix(s.Arguments, strings.Join(cfg.Arguments[:2], " ")+" ") ||
				!strings.Contains(s.Arguments, `"[CONFIG]"`) {
				t.Errorf("ServiceInstall = %+v, want %s started automatically with run --config [CONFIG]", *s, cfg.Name)
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

// TestMSIBuilds builds the MSI with packaging/windows/build-msi, as
// scripts/build does, around a stand-in exe, and reads its tables back with
// msiinfo: major upgrades, the service (virtual account, failure actions,
// service SID), the Event Log source, the data folder's ACL and CONFIG.
func TestMSIBuilds(t *testing.T) {
	for _, tool := range []string{"wixl", "msiinfo", "msibuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's wixl and msitools (scripts/test does on a fresh machine)", tool)
		}
	}
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "posbridge.exe"), "MZ stand-in")
	msi := filepath.Join(dir, "posbridge.msi")
	cmd := exec.Command(filepath.Join(packagingDir, "windows", "build-msi"), "1.2.3+4.gabcdef0",
		filepath.Join(dir, "posbridge.exe"), filepath.Join(packagingDir, "posbridge.example.toml"), msi)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-msi: %v\n%s", err, out)
	}
	table := func(name string) [][]string {
		t.Helper()
		out, err := exec.Command("msiinfo", "export", msi, name).CombinedOutput()
		if err != nil {
			t.Fatalf("msiinfo export %s: %v\n%s", name, err, out)
		}
		var rows [][]string
		for i, l := range strings.Split(strings.TrimRight(string(out), "\r\n"), "\n") {
			if i >= 3 { // column names, types, table name and keys
				rows = append(rows, strings.Split(strings.TrimRight(l, "\r"), "\t"))
			}
		}
		return rows
	}
	find := func(rows [][]string, col int, key string) []string {
		for _, r := range rows {
			if len(r) > col && r[col] == key {
				return r
			}
		}
		return nil
	}

	// Major upgrade: every older version (and a rebuild of this one) is found
	// and removed; a newer one blocks a downgrade.
	props := table("Property")
	if v := find(props, 0, "ProductVersion"); v == nil || v[1] != "1.2.3" {
		t.Errorf("ProductVersion = %v, want 1.2.3", v)
	}
	up := find(table("Upgrade"), 6, "WIX_UPGRADE_DETECTED")
	if up == nil || up[1] != "" || up[2] != "1.2.3" || up[4] != "513" {
		t.Errorf("Upgrade row %q: want every version up to 1.2.3 inclusive (attributes 513) detected", up)
	}
	seq := table("InstallExecuteSequence")
	for _, action := range []string{"FindRelatedProducts", "RemoveExistingProducts", "MsiConfigureServices"} {
		if find(seq, 0, action) == nil {
			t.Errorf("InstallExecuteSequence lacks %s", action)
		}
	}
	if find(table("LaunchCondition"), 0, "NOT WIX_DOWNGRADE_DETECTED") == nil {
		t.Errorf("no launch condition refuses a downgrade")
	}

	// The service: automatic, as the virtual account, run with [CONFIG].
	svc := find(table("ServiceInstall"), 0, "PosbridgeService")
	if svc == nil || svc[1] != serviceName || svc[4] != "2" || svc[8] != windowsServiceAccount || svc[9] != "" ||
		svc[10] != `run --config "[CONFIG]"` {
		t.Errorf("ServiceInstall = %q: want %s, automatic, as %s with no password, run --config \"[CONFIG]\"", svc, serviceName, windowsServiceAccount)
	}
	fa := find(table("MsiServiceConfigFailureActions"), 1, serviceName)
	if fa == nil || fa[6] != "1[~]1[~]1" || fa[7] != "2000[~]10000[~]60000" || fa[8] != "PosbridgeExe" {
		t.Errorf("failure actions %q: want restart after 2 s, 10 s and 60 s", fa)
	}
	if sid := find(table("MsiServiceConfig"), 1, serviceName); sid == nil || sid[3] != "5" || sid[4] != "1" {
		t.Errorf("MsiServiceConfig %q: want SERVICE_CONFIG_SERVICE_SID_INFO (5) unrestricted (1)", sid)
	}

	// The Event Log source.
	reg := table("Registry")
	const evKey = `SYSTEM\CurrentControlSet\Services\EventLog\Application\posbridge`
	var evFile, evTypes bool
	for _, r := range reg {
		if r[1] == "2" && r[2] == evKey {
			evFile = evFile || r[3] == "EventMessageFile" && r[4] == `%SystemRoot%\System32\EventCreate.exe`
			evTypes = evTypes || r[3] == "TypesSupported" && r[4] == "#7"
		}
	}
	if !evFile || !evTypes {
		t.Errorf("Registry lacks the Event Log source %s (EventMessageFile, TypesSupported):\n%q", evKey, reg)
	}

	// The data folder's ACL: locked to SYSTEM, Administrators and the service.
	lock := find(table("MsiLockPermissionsEx"), 1, "DATADIR")
	if lock == nil || lock[2] != "CreateFolder" || lock[3] != dataDirSDDL() {
		t.Errorf("MsiLockPermissionsEx %q: want DATADIR locked to %s", lock, dataDirSDDL())
	}

	// CONFIG: from the command line, else the saved choice, else the default,
	// set before the service and the registry are written; passed to the
	// elevated install.
	if sec := find(props, 0, "SecureCustomProperties"); sec == nil || !strings.Contains(";"+sec[1]+";", ";CONFIG;") {
		t.Errorf("SecureCustomProperties = %q: want CONFIG in it", sec)
	}
	ca := table("CustomAction")
	if d := find(ca, 0, "UseDefaultConfig"); d == nil || d[2] != "CONFIG" || d[3] != `[CommonAppDataFolder]posbridge\posbridge.toml` {
		t.Errorf("UseDefaultConfig = %q", d)
	}
	seqOf := func(action string) int {
		r := find(seq, 0, action)
		if r == nil {
			t.Fatalf("InstallExecuteSequence lacks %s", action)
		}
		n, _ := strconv.Atoi(r[2])
		return n
	}
	if !(seqOf("AppSearch") < seqOf("UseSavedConfig") && seqOf("UseSavedConfig") < seqOf("UseDefaultConfig") &&
		seqOf("UseDefaultConfig") < seqOf("WriteRegistryValues") && seqOf("UseDefaultConfig") < seqOf("InstallServices")) {
		t.Errorf("CONFIG is not settled between AppSearch and the service's installation:\n%q", seq)
	}
	if r := find(reg, 0, ""); r != nil {
		t.Errorf("registry row without id: %q", r)
	}
	var saved bool
	for _, r := range reg {
		saved = saved || r[2] == `SOFTWARE\posbridge` && r[3] == "Config" && r[4] == "[CONFIG]"
	}
	if !saved || find(table("RegLocator"), 2, `SOFTWARE\posbridge`) == nil {
		t.Errorf("CONFIG is not saved in and read back from HKLM\\SOFTWARE\\posbridge")
	}
}

// TestBuildMSI_RefusesVersionZero checks that an unversioned build cannot make
// an MSI that every later one would fail to upgrade.
func TestBuildMSI_RefusesVersionZero(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "posbridge.exe"), "MZ stand-in")
	out, err := exec.Command(filepath.Join(packagingDir, "windows", "build-msi"), "0.0.0+gabcdef0",
		filepath.Join(dir, "posbridge.exe"), filepath.Join(packagingDir, "posbridge.example.toml"), filepath.Join(dir, "p.msi")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ProductVersion") {
		t.Fatalf("build-msi 0.0.0: %v\n%s, want a refusal", err, out)
	}
}

// TestServiceSID checks the virtual account's SID against one Windows
// documents (TrustedInstaller's) and the MSI's ACL against dataDirSDDL.
func TestServiceSID(t *testing.T) {
	if got, want := serviceSID("TrustedInstaller"), "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"; got != want {
		t.Fatalf("serviceSID(TrustedInstaller) = %s, want %s", got, want)
	}
	b, err := os.ReadFile(filepath.Join(packagingDir, "windows", "datadir.sddl"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != dataDirSDDL() {
		t.Fatalf("packaging/windows/datadir.sddl = %s, want %s", got, dataDirSDDL())
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
	check := strings.Index(post, "if config_ok; then")
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
