//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// packageTestEnv turns on the tests that build the packages and install them
// in a clean Debian root. They need root (chroot), debootstrap and the
// network once (the root is cached), and take a minute or two, so they run
// only when it is set; scripts/test sets it.
const packageTestEnv = "POSBRIDGE_PACKAGE_TESTS"

func requirePackageTests(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv(packageTestEnv) == "" {
		t.Skipf("package tests are off: set %s=1 (scripts/test does, as root)", packageTestEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is set but the tests need root (chroot)", packageTestEnv)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: scripts/test installs it on a fresh machine", tool)
		}
	}
}

// buildPackages runs scripts/build for targets with VERSION=version into a
// temp dir and returns that dir.
func buildPackages(t *testing.T, version string, targets ...string) string {
	t.Helper()
	dist := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("./scripts/build", targets...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "VERSION="+version, "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build %v: %v\n%s", targets, err, out)
	}
	return dist
}

// debianRoot returns a fresh Debian 12 root (minbase plus systemd) in a temp
// dir, unpacked from a tarball cached in $POSBRIDGE_TEST_CACHE (default: the
// user cache dir), made with debootstrap the first time.
func debianRoot(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("POSBRIDGE_TEST_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(d, "posbridge-test")
	}
	tarball := filepath.Join(cache, "bookworm-minbase-systemd.tar.gz")
	if _, err := os.Stat(tarball); err != nil {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		build := filepath.Join(cache, "root-build")
		_ = os.RemoveAll(build)
		t.Logf("making the cached Debian root with debootstrap (once): %s", tarball)
		sh(t, "", "debootstrap", "--variant=minbase", "--include=systemd", "bookworm", build, "http://deb.debian.org/debian")
		sh(t, "", "tar", "-C", build, "-czf", tarball+".new", ".")
		if err := os.Rename(tarball+".new", tarball); err != nil {
			t.Fatal(err)
		}
		_ = os.RemoveAll(build)
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, "", "tar", "-C", root, "-xzf", tarball)
	// udev is not in minbase; its directory is what postinstall looks for.
	if err := os.MkdirAll(filepath.Join(root, "etc/udev"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// sh runs name with args (in root with chroot when root is set), stdin
// empty so that any prompt fails, and returns the combined output.
func sh(t *testing.T, root string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(root, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(root string, name string, args ...string) (string, error) {
	if root != "" {
		args = append([]string{root, name}, args...)
		name = "chroot"
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(nil)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readRootFile(t *testing.T, root, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(root, path string) bool {
	_, err := os.Lstat(filepath.Join(root, path))
	return err == nil
}

// TestDebPackage installs the .deb in a clean Debian root as a till would
// get it, configures it as IT would, upgrades it and removes it:
//   - install with the example config: the config is created from the
//     example, the service is not enabled (no restart loop), postinstall says
//     what to do in one line, and "run" exits 78, which the unit does not
//     restart on;
//   - upgrade after IT configured it: no conffile prompt, the config, drop-in,
//     udev rule and database are kept, and the now valid config gets the
//     service enabled;
//   - remove and purge keep the database.
func TestDebPackage(t *testing.T) {
	requirePackageTests(t, "debootstrap", "dpkg-deb", "chroot", "lintian")
	v1 := buildPackages(t, "1.0.0", "deb")
	v2 := buildPackages(t, "1.0.1", "deb")
	root := debianRoot(t)
	for name, dist := range map[string]string{"v1.deb": v1, "v2.deb": v2} {
		debs, _ := filepath.Glob(filepath.Join(dist, "posbridge_*_amd64.deb"))
		if len(debs) != 1 {
			t.Fatalf("%s: want one .deb, got %v", dist, debs)
		}
		b, err := os.ReadFile(debs[0])
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(root, "tmp", name), string(b))
	}
	const (
		conf    = "/etc/posbridge/posbridge.toml"
		wants   = "/etc/systemd/system/multi-user.target.wants/posbridge.service"
		rule    = "/etc/udev/rules.d/99-posbridge.rules"
		db      = "/var/lib/posbridge/posbridge.db"
		dropIn  = "/etc/posbridge/posbridge.d/50-till.toml"
		envFile = "/etc/posbridge/posbridge.env"
		example = "/usr/share/doc/posbridge/posbridge.example.toml"
	)

	// The package's metadata: libc declared, no conffile for the live config.
	info := sh(t, "", "dpkg-deb", "--info", filepath.Join(root, "tmp/v1.deb"))
	if !strings.Contains(info, "libc6 (>= 2.34)") {
		t.Errorf("the .deb does not depend on libc6 (>= 2.34):\n%s", info)
	}
	if conffiles := sh(t, "", "dpkg-deb", "--field", filepath.Join(root, "tmp/v1.deb"), "Conffiles"); strings.Contains(conffiles, conf) {
		t.Errorf("%s is a conffile: upgrades would prompt about it", conf)
	}

	// 1. A fresh till.
	out := sh(t, root, "dpkg", "-i", "/tmp/v1.deb")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "posbridge: not started: ") || !strings.Contains(last, "posbridge config check "+conf) {
		t.Errorf("install's last line %q: want one line saying what to do", last)
	}
	if got, want := readRootFile(t, root, conf), readRootFile(t, root, example); got != want {
		t.Errorf("%s is not the example", conf)
	}
	if exists(root, wants) {
		t.Errorf("the service is enabled with the example config: it would fail at every boot")
	}
	if unit := readRootFile(t, root, "/usr/lib/systemd/system/posbridge.service"); !strings.Contains(unit, "\nRestartPreventExitStatus=78\n") {
		t.Errorf("the installed unit restarts on exit status 78")
	}
	if _, err := runErr(root, "posbridge", "run", "--config", conf); err == nil || err.(*exec.ExitError).ExitCode() != ExitConfig {
		t.Errorf("posbridge run with the example config: %v, want exit status %d", err, ExitConfig)
	}
	for _, p := range []string{rule, "/usr/share/man/man1/posbridge.1.gz", "/usr/share/doc/posbridge/copyright"} {
		if !exists(root, p) {
			t.Errorf("%s not installed", p)
		}
	}
	if g := sh(t, root, "stat", "-c", "%a %G", conf); strings.TrimSpace(g) != "640 posbridge" {
		t.Errorf("%s mode and group = %q, want 640 posbridge", conf, g)
	}

	// 2. IT configures the till: keys readable by the service, the shop's
	// values in the main file, the till's lane in a drop-in, the secret
	// Partner-Id in the unit's environment file, the udev ids; the daemon has
	// written orders.
	copyTestKeys(t, filepath.Join(root, "etc/posbridge"))
	sh(t, root, "chown", "posbridge:posbridge", "/etc/posbridge/merchant.pem", "/etc/posbridge/gateway.pem")
	edited := strings.NewReplacer(
		`merchant_private_key = "merchant_private.pem"`, `merchant_private_key = "merchant.pem"`,
		`gateway_public_key = "gateway_public.pem"`, `gateway_public_key = "gateway.pem"`).Replace(readRootFile(t, root, conf))
	mustWrite(t, filepath.Join(root, conf), edited)
	mustWrite(t, filepath.Join(root, dropIn), "[[lane]]\nid = \"1\"\nvid = \"1a86\"\npid = \"7523\"\napp_id = \"P7\"\n")
	sh(t, root, "chmod", "0644", dropIn)
	mustWrite(t, filepath.Join(root, envFile), "POSBRIDGE_GATEWAY_PARTNER_ID=200000000123\n")
	ruleText := strings.ReplaceAll(readRootFile(t, root, rule), `"0000"`, `"1a86"`)
	mustWrite(t, filepath.Join(root, rule), ruleText)
	mustWrite(t, filepath.Join(root, db), "orders")
	checkAsService := "set -a; . " + envFile + "; set +a; runuser -u posbridge -- posbridge config check " + conf
	if out, err := runErr(root, "sh", "-c", checkAsService); err != nil {
		t.Fatalf("IT's config does not pass as the service would check it: %v\n%s", err, out)
	}

	// 3. Upgrade.
	out = sh(t, root, "dpkg", "-i", "/tmp/v2.deb")
	if strings.Contains(out, "Configuration file") || strings.Contains(out, "not started") {
		t.Errorf("upgrade asked or complained:\n%s", out)
	}
	if readRootFile(t, root, conf) != edited || readRootFile(t, root, rule) != ruleText || readRootFile(t, root, db) != "orders" ||
		!exists(root, dropIn) || !exists(root, envFile) {
		t.Errorf("upgrade changed IT's config, drop-in, env file, udev rule or the database")
	}
	if !exists(root, wants) {
		t.Errorf("the service is not enabled after an upgrade with a valid config")
	}
	if v := sh(t, root, "dpkg-query", "-W", "-f", "${Version}", "posbridge"); v != "1.0.1" {
		t.Errorf("installed version %q, want 1.0.1", v)
	}

	// 4. Remove, then purge: the orders stay.
	sh(t, root, "dpkg", "-r", "posbridge")
	if readRootFile(t, root, db) != "orders" || readRootFile(t, root, conf) != edited {
		t.Errorf("remove lost the database or the config")
	}
	if exists(root, wants) || exists(root, "/usr/bin/posbridge") {
		t.Errorf("remove left the service enabled or the binary")
	}
	sh(t, root, "dpkg", "-P", "posbridge")
	if readRootFile(t, root, db) != "orders" {
		t.Errorf("purge lost the database")
	}
}

// TestRPMPackage builds the .rpm and reads back what it declares: glibc, the
// files and no package-owned live config. (Installing it needs an RPM-based
// root, which the test machine does not have.)
func TestRPMPackage(t *testing.T) {
	requirePackageTests(t, "rpm")
	dist := buildPackages(t, "1.0.0", "rpm")
	rpms, _ := filepath.Glob(filepath.Join(dist, "posbridge-*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("want one .rpm, got %v", rpms)
	}
	req := sh(t, "", "rpm", "-qp", "--requires", rpms[0])
	if !strings.Contains(req, "glibc >= 2.34") {
		t.Errorf("the .rpm does not require glibc >= 2.34:\n%s", req)
	}
	files := sh(t, "", "rpm", "-qp", "--list", rpms[0])
	for _, want := range []string{"/usr/bin/posbridge", "/usr/share/doc/posbridge/posbridge.example.toml", "/usr/share/man/man1/posbridge.1.gz", "/usr/lib/systemd/system/posbridge.service"} {
		if !strings.Contains(files, want+"\n") {
			t.Errorf("the .rpm lacks %s:\n%s", want, files)
		}
	}
	if strings.Contains(files, "/etc/posbridge/posbridge.toml") {
		t.Errorf("the .rpm owns /etc/posbridge/posbridge.toml")
	}
}
