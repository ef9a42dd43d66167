package zkpath

import "testing"

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"/", true}, {"/a", true}, {"/a/b-c.d", true}, {"/é", true}, {"/a/..b", true},
		{"", false}, {"a", false}, {"/a/", false}, {"//a", false}, {"/a//b", false},
		{"/a/.", false}, {"/a/../b", false}, {"/a\x00b", false}, {"/a\x1fb", false},
		{"/a\u0080", false}, {"/\U0001F600", false}, {"/\uE000", false}, {"/\uFFF0", false},
		{"/\xff", false},
	} {
		if err := Validate(tc.path); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.path, err, tc.ok)
		}
	}
	if err := ValidateSequential("/a/"); err != nil {
		t.Errorf("a sequential prefix may end in /: %v", err)
	}
	if Parent("/a/b") != "/a" || Parent("/a") != "/" || Name("/a/b") != "b" {
		t.Error("Parent/Name")
	}
}
