package infra

import "testing"

func TestDetectPlatform(t *testing.T) {
	t.Parallel()
	fly := []string{"FLY_APP_NAME=siesta-demo", "FLY_MACHINE_ID=e784079b449483", "FLY_REGION=ams", "FLY_PRIVATE_IP=fdaa:0:1:a7b:8e:1:2:3", "HOME=/"}
	tests := []struct {
		name    string
		environ []string
		want    Platform
	}{
		{"nothing", nil, Platform{}},
		{"unrelated variables", []string{"HOME=/root", "PATH=/bin"}, Platform{}},
		{"a Fly Machine", fly, Platform{Name: "fly", App: "siesta-demo", MachineID: "e784079b449483", Region: "ams", PrivateIP: "fdaa:0:1:a7b:8e:1:2:3"}},
		{"FLY_APP_NAME alone, as flyctl users set it", []string{"FLY_APP_NAME=siesta-demo"}, Platform{}},
		{"an empty app name", []string{"FLY_APP_NAME=", "FLY_MACHINE_ID=e784079b449483"}, Platform{}},
		{"a Machine without region or private IP", []string{"FLY_APP_NAME=a", "FLY_MACHINE_ID=m"}, Platform{Name: "fly", App: "a", MachineID: "m"}},
		{"a value with '='", []string{"FLY_APP_NAME=a=b", "FLY_MACHINE_ID=m"}, Platform{Name: "fly", App: "a=b", MachineID: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := DetectPlatform(tt.environ); got != tt.want {
				t.Errorf("DetectPlatform = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDefaultAdvertise(t *testing.T) {
	t.Parallel()
	fly := Platform{Name: "fly", App: "siesta-demo", MachineID: "m", Region: "ams"}
	tests := []struct {
		name     string
		platform Platform
		port     string
		mode     string
		want     string
	}{
		{"unknown platform", Platform{}, "9092", "", ""},
		{"unknown platform, public", Platform{}, "9092", AdvertisePublic, ""},
		{"fly default", fly, "9092", "", "siesta-demo.fly.dev:9092"},
		{"fly public", fly, "9092", AdvertisePublic, "siesta-demo.fly.dev:9092"},
		{"fly flycast", fly, "9092", AdvertiseFlycast, "siesta-demo.flycast:9092"},
		{"fly internal", fly, "9092", AdvertiseInternal, "siesta-demo.internal:9092"},
		{"fly other port", fly, "19092", AdvertisePublic, "siesta-demo.fly.dev:19092"},
		{"fly unknown mode", fly, "9092", "vpn", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.platform.DefaultAdvertise(tt.port, tt.mode); got != tt.want {
				t.Errorf("DefaultAdvertise(%q, %q) = %q, want %q", tt.port, tt.mode, got, tt.want)
			}
		})
	}
}
