package infra

import (
	"net"
	"strings"
)

// Platform is where the process runs, as its environment tells. The zero
// value is an unknown platform: a laptop, a plain VM, a container.
type Platform struct {
	// Name is "fly" on a Fly.io Machine, empty elsewhere.
	Name string
	// App, MachineID, Region and PrivateIP are Fly's FLY_APP_NAME,
	// FLY_MACHINE_ID, FLY_REGION and FLY_PRIVATE_IP (the Machine's 6PN
	// address).
	App       string
	MachineID string
	Region    string
	PrivateIP string
}

// PlatformFly is Platform.Name on a Fly.io Machine.
const PlatformFly = "fly"

// Advertise modes: which of a platform's addresses clients are told to
// use. On Fly.io, only the public and Flycast addresses go through Fly
// Proxy, which starts a stopped Machine when a client connects.
const (
	// AdvertisePublic is APP.fly.dev, the app's public Anycast name.
	AdvertisePublic = "public"
	// AdvertiseFlycast is APP.flycast, a private address in the
	// organization's network that still goes through Fly Proxy.
	AdvertiseFlycast = "flycast"
	// AdvertiseInternal is APP.internal, the Machines' own private
	// addresses. It skips Fly Proxy, so a stopped Machine stays stopped:
	// use it only with min_machines_running of 1 or more.
	AdvertiseInternal = "internal"
)

// AdvertiseModes lists the valid modes, for validation and help.
var AdvertiseModes = []string{AdvertisePublic, AdvertiseFlycast, AdvertiseInternal}

// DetectPlatform reads the platform from environ (KEY=VALUE strings, as
// from os.Environ). A Fly.io Machine is recognised by FLY_APP_NAME and
// FLY_MACHINE_ID together, so that a stray FLY_APP_NAME on a laptop (flyctl
// reads it too) does not count. Other platforms (EC2 through its instance
// metadata) are not detected yet.
func DetectPlatform(environ []string) Platform {
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "FLY_") {
			env[k] = v
		}
	}
	if env["FLY_APP_NAME"] == "" || env["FLY_MACHINE_ID"] == "" {
		return Platform{}
	}
	return Platform{
		Name:      PlatformFly,
		App:       env["FLY_APP_NAME"],
		MachineID: env["FLY_MACHINE_ID"],
		Region:    env["FLY_REGION"],
		PrivateIP: env["FLY_PRIVATE_IP"],
	}
}

// DefaultAdvertise is the host:port clients should be told to connect to
// when none is configured, for a broker listening on port, or "" when the
// platform has no better answer than the listener's own address. mode is
// one of AdvertiseModes ("" means AdvertisePublic); an unknown mode gives
// "". The port is the listener's: on Fly.io, the [[services.ports]] port
// must be the same as internal_port, or SIESTA_ADVERTISE must be set.
func (p Platform) DefaultAdvertise(port string, mode string) string {
	if p.Name != PlatformFly || p.App == "" {
		return ""
	}
	var host string
	switch mode {
	case AdvertisePublic, "":
		host = p.App + ".fly.dev"
	case AdvertiseFlycast:
		host = p.App + ".flycast"
	case AdvertiseInternal:
		host = p.App + ".internal"
	default:
		return ""
	}
	return net.JoinHostPort(host, port)
}
