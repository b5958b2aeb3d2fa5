package safehttp

import (
	"net/netip"
	"testing"
)

// FuzzCheckURL checks that whatever CheckURL accepts is an http(s) URL
// with a host and no userinfo, and that it never panics.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://example.com/a.jpg", "https://example.com:8443/x?y=1#z", "HTTP://EXAMPLE.COM/",
		"http://user:pass@example.com/", "http://@example.com/", "file:///etc/passwd",
		"gopher://127.0.0.1:70/_", "http:///x", "//example.com/", "http://[::1]:80/",
		"http://[fe80::1%25eth0]/", "http://0x7f.1/", "http://2130706433/", "http://a b/",
		"javascript:alert(1)", "http://example.com%2f@evil/", "http:\\\\evil\\", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := CheckURL(s)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Hostname() == "" {
			t.Fatalf("CheckURL(%q) accepted %#v", s, u)
		}
	})
}

// FuzzForbiddenForms checks that an IPv4 address is judged the same
// in the IPv6 forms that reach it: IPv4-mapped and NAT64.
func FuzzForbiddenForms(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8", "100.64.0.1", "0.0.0.0"} {
		b := netip.MustParseAddr(s).As4()
		f.Add(b[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != 4 {
			return
		}
		v4 := netip.AddrFrom4([4]byte(b))
		mapped := netip.AddrFrom16(v4.As16())
		n := netip.MustParseAddr("64:ff9b::").As16()
		copy(n[12:], b)
		nat := netip.AddrFrom16(n)
		if forbidden(v4) != forbidden(mapped) || forbidden(v4) != forbidden(nat) {
			t.Fatalf("%s: forbidden %v, mapped %v, NAT64 %v", v4, forbidden(v4), forbidden(mapped), forbidden(nat))
		}
	})
}
