package soak

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const sigterm = syscall.SIGTERM

// sysProcAttr kills the servers the run started when the run itself dies,
// however it dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// openFDs counts the file descriptors process pid holds.
func openFDs(pid int) (int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}

// connsTo counts process pid's TCP connections to a port on any address:
// the sockets among its file descriptors that /proc/net/tcp{,6} lists
// with that remote port.
func connsTo(pid, port int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	entries, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return 0, err
	}
	sockets := map[string]bool{}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/fd/" + e.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	remote := fmt.Sprintf(":%04X", port)
	n := 0
	for _, table := range []string{"/net/tcp", "/net/tcp6"} {
		f, err := os.Open(dir + table)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && strings.HasSuffix(fields[2], remote) && sockets[fields[9]] {
				n++
			}
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}
