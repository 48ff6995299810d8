//go:build unix

package proc

import (
	"os/exec"
	"testing"
)

func TestExitOf(t *testing.T) {
	tests := []struct {
		name  string
		sh    string
		want  string
		shell int
	}{
		{"success", "exit 0", "exit status 0", 0},
		{"status", "exit 3", "exit status 3", 3},
		{"signal", "kill -9 $$", "signal 9 (killed)", 137},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.sh)
			cmd.SysProcAttr = SysProcAttr()
			_ = cmd.Run()
			e := ExitOf(cmd.ProcessState)
			if e.String() != tc.want || e.ShellCode() != tc.shell {
				t.Fatalf("ExitOf = %q (shell code %d), want %q (%d)", e, e.ShellCode(), tc.want, tc.shell)
			}
		})
	}
	if e := ExitOf(nil); e.Code != -1 {
		t.Errorf("ExitOf(nil) = %+v", e)
	}
}

func TestKillGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60")
	cmd.SysProcAttr = SysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := KillGroup(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if e := ExitOf(cmd.ProcessState); e.Signal != 9 {
		t.Fatalf("after KillGroup: %v", e)
	}
	if KillGroup(0) == nil || KillGroup(-1) == nil {
		t.Error("KillGroup of pid 0 or -1 succeeded")
	}
}
