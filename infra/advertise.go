package infra

import "net"

// AdvertiseAddress is the host:port clients should be told to connect to:
// configured if set, otherwise the listener's address with a wildcard host
// (":9092", "0.0.0.0", "::") replaced by localhost.
func AdvertiseAddress(listener net.Addr, configured string) string {
	if configured != "" {
		return configured
	}
	host, port, err := net.SplitHostPort(listener.String())
	if err != nil {
		return listener.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
