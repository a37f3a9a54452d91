package handlers

import "testing"

func TestConsoleNextStaysInTheConsole(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/console/acme/realms/acme/clients?status=enabled", "/console/acme/realms/acme/clients?status=enabled"},
		{"/console/acme/me", "/console/acme/me"},
		{"", "/console/acme/"},
		{"https://evil.example/console/acme/", "/console/acme/"},
		{"//evil.example/console/acme/", "/console/acme/"},
		{"/\\evil.example/console/acme/", "/console/acme/"},
		{"/console/other/me", "/console/acme/"},
		{"/console/acme/../../realms/x", "/console/acme/"},
		{"/console/acme/signout", "/console/acme/"},
		{"javascript:alert(1)", "/console/acme/"},
		{"/realms/acme/protocol/openid-connect/logout", "/console/acme/"},
	}
	for _, tt := range tests {
		if got := consoleNext("acme", tt.next); got != tt.want {
			t.Errorf("consoleNext(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestFormatLifetime(t *testing.T) {
	for sec, want := range map[int64]string{3600: "1 hour", 7200: "2 hours", 604800: "7 days", 300: "5 minutes", 90: "90 seconds", 86400: "1 day"} {
		if got := formatLifetime(sec); got != want {
			t.Errorf("formatLifetime(%d) = %q, want %q", sec, got, want)
		}
	}
}
