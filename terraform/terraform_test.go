// Package terraform_test checks the Terraform modules in this directory
// without Terraform: their formatting, and what they promise (a t3.micro
// with an encrypted volume and the repository's systemd units; a bucket
// policy scoped to one prefix), by parsing and evaluating their HCL.
// With Terraform installed, also run terraform fmt -check and terraform
// validate (see README.md).
package terraform_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

var modules = []string{"aws-t3micro", "aws-s3-bucket"}

// TestFormat is terraform fmt -check: hclwrite.Format is the formatter
// terraform fmt runs.
func TestFormat(t *testing.T) {
	t.Parallel()
	for _, dir := range modules {
		for path, src := range loadModule(t, dir).files {
			if got := hclwrite.Format(src); !bytes.Equal(got, src) {
				t.Errorf("%s is not formatted (terraform fmt); formatted, it reads:\n%s", path, got)
			}
		}
	}
}

// TestDocumented: every variable has a type and a description, every
// output a description, and no default opens anything to the internet.
func TestDocumented(t *testing.T) {
	t.Parallel()
	for _, dir := range modules {
		m := loadModule(t, dir)
		for _, b := range m.all("variable") {
			for _, name := range []string{"description", "type"} {
				if _, ok := b.Body.Attributes[name]; !ok {
					t.Errorf("%s: variable %s has no %s", dir, b.Labels[0], name)
				}
			}
			if a, ok := b.Body.Attributes["default"]; ok {
				if v := eval(t, nil, a.Expr); strings.Contains(v.GoString(), "0.0.0.0/0") {
					t.Errorf("%s: variable %s defaults to 0.0.0.0/0", dir, b.Labels[0])
				}
			}
		}
		for _, b := range m.all("output") {
			if _, ok := b.Body.Attributes["description"]; !ok {
				t.Errorf("%s: output %s has no description", dir, b.Labels[0])
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
}

func TestT3Micro(t *testing.T) {
	t.Parallel()
	m := loadModule(t, "aws-t3micro")
	const (
		url = "https://example.com/releases/siesta-linux-amd64"
		sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	ctx := m.scope(t, map[string]cty.Value{
		"allowed_cidrs":      cty.ListVal([]cty.Value{cty.StringVal("203.0.113.7/32")}),
		"siesta_release_url": cty.StringVal(url),
		"siesta_sha256":      cty.StringVal(sum),
		"kafka_port":         cty.NumberIntVal(19092),
	}, nil)
	instance := m.one(t, "resource", "aws_instance", "this")

	if got := eval(t, ctx, attr(t, instance, "instance_type")); !got.RawEquals(cty.StringVal("t3.micro")) {
		t.Errorf("instance_type = %#v, want t3.micro", got)
	}
	root := nested(t, instance, "root_block_device")
	if got := eval(t, ctx, attr(t, root, "encrypted")); !got.RawEquals(cty.True) {
		t.Errorf("root_block_device.encrypted = %#v, want true", got)
	}
	if got := eval(t, ctx, attr(t, root, "volume_type")); !got.RawEquals(cty.StringVal("gp3")) {
		t.Errorf("root_block_device.volume_type = %#v, want gp3", got)
	}
	size, _ := eval(t, ctx, attr(t, root, "volume_size")).AsBigFloat().Int64()
	if size < 8 || size > 30 {
		t.Errorf("root_block_device.volume_size = %d GiB, want 8 to 30 (free tier)", size)
	}
	if got := eval(t, ctx, attr(t, nested(t, instance, "metadata_options"), "http_tokens")); !got.RawEquals(cty.StringVal("required")) {
		t.Errorf("metadata_options.http_tokens = %#v, want required (IMDSv2)", got)
	}

	t.Run("user data", func(t *testing.T) {
		userData := eval(t, ctx, attr(t, instance, "user_data")).AsString()
		if len(userData) > 16<<10 {
			t.Errorf("user data is %d bytes; EC2 takes at most 16 KiB", len(userData))
		}
		// The units are installed as they are in infra/systemd.
		for _, unit := range []string{"siesta.socket", "siesta.service"} {
			src, err := os.ReadFile(filepath.Join("..", "infra", "systemd", unit))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(userData, "/etc/systemd/system/"+unit+" <<'SIESTA_UNIT'\n"+string(src)) {
				t.Errorf("user data does not install infra/systemd/%s as is", unit)
			}
		}
		for _, want := range []string{
			url,
			sum + "  /usr/local/bin/siesta.download' | sha256sum --check",
			"ListenStream=19092\n",
			"SIESTA_IDLE_TIMEOUT=60s\n",
			"X-aws-ec2-metadata-token",
			"systemctl enable --now siesta.socket\n",
		} {
			if !strings.Contains(userData, want) {
				t.Errorf("user data lacks %q", want)
			}
		}
		if bash, err := exec.LookPath("bash"); err == nil {
			cmd := exec.Command(bash, "-n")
			cmd.Stdin = strings.NewReader(userData)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("bash -n: %v\n%s", err, out)
			}
		}
		verifyInstalledUnits(t, userData)
		t.Run("advertise", func(t *testing.T) { testAdvertiseScript(t, userData) })
		if t.Failed() {
			t.Logf("user data:\n%s", userData)
		}
	})

	t.Run("security group", func(t *testing.T) {
		cidrs := m.one(t, "variable", "allowed_cidrs")
		if _, ok := cidrs.Body.Attributes["default"]; ok {
			t.Error("allowed_cidrs has a default; whoever applies must say who may connect")
		}
		validation := nested(t, cidrs, "validation")
		empty := m.scope(t, map[string]cty.Value{"allowed_cidrs": cty.ListValEmpty(cty.String)}, nil)
		if got := eval(t, empty, attr(t, validation, "condition")); !got.RawEquals(cty.False) {
			t.Errorf("allowed_cidrs = [] passes validation (%#v)", got)
		}
		kafka := m.one(t, "resource", "aws_vpc_security_group_ingress_rule", "kafka")
		if !references(attr(t, kafka, "for_each"), "var", "allowed_cidrs") {
			t.Error("kafka ingress rule: for_each does not range over var.allowed_cidrs")
		}
		got := eval(t, ctx, attr(t, kafka, "from_port"))
		if !got.RawEquals(cty.NumberIntVal(19092)) || !eval(t, ctx, attr(t, kafka, "to_port")).RawEquals(got) {
			t.Error("kafka ingress rule: ports are not var.kafka_port")
		}
		// Every ingress rule admits only CIDRs someone chose; variable
		// defaults never hold 0.0.0.0/0 (TestDocumented).
		for _, rule := range m.all("resource", "aws_vpc_security_group_ingress_rule") {
			if !references(attr(t, rule, "for_each"), "var", "allowed_cidrs") && !references(attr(t, rule, "for_each"), "var", "ssh_cidrs") {
				t.Errorf("ingress rule %s: for_each ranges over neither var.allowed_cidrs nor var.ssh_cidrs", rule.Labels[1])
			}
		}
	})

	t.Run("outputs", func(t *testing.T) {
		bootstrap := m.one(t, "output", "bootstrap")
		if !references(attr(t, bootstrap, "value"), "var", "kafka_port") {
			t.Error("output bootstrap does not use var.kafka_port")
		}
	})
}

func TestS3Bucket(t *testing.T) {
	t.Parallel()
	m := loadModule(t, "aws-s3-bucket")
	const arn = "arn:aws:s3:::siesta-test"
	ctx := m.scope(t, map[string]cty.Value{
		"bucket_name": cty.StringVal("siesta-test"),
		"prefix":      cty.StringVal("prod/siesta"),
	}, map[string]cty.Value{
		"aws_s3_bucket": cty.ObjectVal(map[string]cty.Value{"this": cty.ObjectVal(map[string]cty.Value{
			"arn":    cty.StringVal(arn),
			"id":     cty.StringVal("siesta-test"),
			"region": cty.StringVal("eu-west-1"),
		})}),
	})

	policy := m.one(t, "data", "aws_iam_policy_document", "siesta")
	want := map[string][]string{
		"s3:GetObject":    {arn + "/prod/siesta/*"},
		"s3:PutObject":    {arn + "/prod/siesta/*"},
		"s3:DeleteObject": {arn + "/prod/siesta/*"},
		"s3:ListBucket":   {arn},
	}
	got := make(map[string][]string)
	for _, st := range policy.Body.Blocks {
		if st.Type != "statement" {
			continue
		}
		if _, ok := st.Body.Attributes["effect"]; ok {
			if e := eval(t, ctx, attr(t, st, "effect")); !e.RawEquals(cty.StringVal("Allow")) {
				continue
			}
		}
		var resources []string
		for _, r := range eval(t, ctx, attr(t, st, "resources")).AsValueSlice() {
			resources = append(resources, r.AsString())
		}
		var actions []string
		for _, a := range eval(t, ctx, attr(t, st, "actions")).AsValueSlice() {
			actions = append(actions, a.AsString())
			got[a.AsString()] = append(got[a.AsString()], resources...)
		}
		for _, a := range actions {
			if a == "s3:ListBucket" {
				cond := nested(t, st, "condition")
				if v := eval(t, ctx, attr(t, cond, "variable")); !v.RawEquals(cty.StringVal("s3:prefix")) {
					t.Errorf("s3:ListBucket condition on %#v, want s3:prefix", v)
				}
				if v := eval(t, ctx, attr(t, cond, "values")); !v.RawEquals(cty.TupleVal([]cty.Value{cty.StringVal("prod/siesta/*")})) {
					t.Errorf("s3:ListBucket allowed for prefixes %#v, want prod/siesta/*", v)
				}
			}
		}
	}
	for action, resources := range got {
		w, ok := want[action]
		if !ok {
			t.Errorf("policy allows %s, which siesta does not need", action)
			continue
		}
		if strings.Join(resources, " ") != strings.Join(w, " ") {
			t.Errorf("policy allows %s on %q, want only %q", action, resources, w)
		}
	}
	for action := range want {
		if _, ok := got[action]; !ok {
			t.Errorf("policy does not allow %s", action)
		}
	}

	sse := nested(t, nested(t, m.one(t, "resource", "aws_s3_bucket_server_side_encryption_configuration", "this"), "rule"), "apply_server_side_encryption_by_default")
	if v := eval(t, ctx, attr(t, sse, "sse_algorithm")); !v.RawEquals(cty.StringVal("AES256")) {
		t.Errorf("sse_algorithm = %#v, want AES256", v)
	}
	block := m.one(t, "resource", "aws_s3_bucket_public_access_block", "this")
	for _, name := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		if v := eval(t, ctx, attr(t, block, name)); !v.RawEquals(cty.True) {
			t.Errorf("public access block: %s = %#v, want true", name, v)
		}
	}

	for _, name := range []string{"bucket", "policy_arn"} {
		m.one(t, "output", name)
	}
	url := eval(t, ctx, attr(t, m.one(t, "output", "storage_url"), "value"))
	if !url.RawEquals(cty.StringVal("s3://siesta-test/prod/siesta?region=eu-west-1")) {
		t.Errorf("storage_url = %#v", url)
	}
}

// heredoc matches the files user data writes: cat >PATH <<'SIESTA_X' ... SIESTA_X.
var heredoc = regexp.MustCompile(`(?ms)^cat >(\S+) <<'(SIESTA_\w+)'\n(.*?)^(SIESTA_\w+)$`)

// verifyInstalledUnits runs systemd-analyze verify on the units and
// drop-ins as user data installs them, with the binaries they name
// replaced by true(1).
func verifyInstalledUnits(t *testing.T, userData string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("SIESTA_REQUIRE_SYSTEMD") != "" {
			t.Fatal("systemd-analyze not found and SIESTA_REQUIRE_SYSTEMD is set")
		}
		t.Log("systemd-analyze not found (Debian package systemd): installed units not verified")
		return
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	units := 0
	for _, m := range heredoc.FindAllStringSubmatch(userData, -1) {
		path, body := m[1], m[3]
		if m[2] != m[4] {
			t.Fatalf("heredoc for %s opens with %s and closes with %s", path, m[2], m[4])
		}
		rel, ok := strings.CutPrefix(path, "/etc/systemd/system/")
		if !ok {
			continue
		}
		body = strings.NewReplacer("/usr/local/bin/siesta", truePath, "/usr/local/libexec/siesta-advertise", truePath).Replace(body)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		units++
	}
	if units != 4 {
		t.Errorf("user data installs %d unit files and drop-ins, want 4 (two units, two drop-ins)", units)
	}
	cmd := exec.Command(analyze, "verify", "./siesta.socket", "./siesta.service")
	cmd.Dir = dir
	// Unknown keys are logged but do not fail verify.
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify, units and drop-ins as installed: %v\n%s", err, out)
	}
}

// testAdvertiseScript runs the ExecStartPre script user data installs
// against a stand-in for the instance metadata service that, like EC2 with
// IMDSv2 required, answers only requests carrying a session token.
func testAdvertiseScript(t *testing.T, userData string) {
	var script string
	for _, m := range heredoc.FindAllStringSubmatch(userData, -1) {
		if m[1] == "/usr/local/libexec/siesta-advertise" {
			script = m[3]
		}
	}
	if script == "" {
		t.Fatal("user data installs no /usr/local/libexec/siesta-advertise")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found")
	}
	for _, tc := range []struct {
		name     string
		metadata map[string]string
		want     string // "" for a failure
	}{
		{"public DNS", map[string]string{"public-hostname": "ec2-203-0-113-7.compute-1.amazonaws.com", "public-ipv4": "203.0.113.7"}, "SIESTA_ADVERTISE=ec2-203-0-113-7.compute-1.amazonaws.com:19092\n"},
		{"IPv4 only", map[string]string{"public-ipv4": "203.0.113.7"}, "SIESTA_ADVERTISE=203.0.113.7:19092\n"},
		{"no public address", map[string]string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") != "" {
					io.WriteString(w, "token")
					return
				}
				v, ok := tc.metadata[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
				if r.Method != http.MethodGet || r.Header.Get("X-aws-ec2-metadata-token") != "token" {
					http.Error(w, "", http.StatusUnauthorized)
				} else if !ok {
					http.NotFound(w, r)
				} else {
					io.WriteString(w, v)
				}
			}))
			defer imds.Close()
			dir := t.TempDir()
			// The script writes to /run; the test's copy writes to dir.
			src := strings.ReplaceAll(script, "/run/", dir+"/")
			cmd := exec.Command("sh", "-c", src, "siesta-advertise", "19092")
			cmd.Env = append(os.Environ(), "SIESTA_IMDS="+imds.URL+"/latest")
			out, err := cmd.CombinedOutput()
			got, _ := os.ReadFile(filepath.Join(dir, "siesta-advertise.env"))
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("succeeded without a public address, wrote %q", got)
			case tc.want != "" && (err != nil || string(got) != tc.want):
				t.Errorf("wrote %q (%v), want %q\n%s", got, err, tc.want, out)
			}
		})
	}
}

// references reports whether expr refers to root.attr (var.kafka_port).
func references(expr interface{ Variables() []hcl.Traversal }, root, attr string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != root || len(tr) < 2 {
			continue
		}
		if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == attr {
			return true
		}
	}
	return false
}
