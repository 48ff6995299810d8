package node

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/fxmesh/fxmesh/node/webview"
)

// minTokenLen is the shortest http_token accepted.
const minTokenLen = 16

// validateHTTP checks http_listen and http_token: a listener that is not
// on loopback must ask for a token.
func (c *Config) validateHTTP() error {
	if c.HTTPListen == "" {
		if c.HTTPToken != "" {
			return errors.New("http_token is set but http_listen is not: set http_listen (e.g. 127.0.0.1:8080) to serve the web view")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.HTTPListen)
	if err != nil {
		return fmt.Errorf("http_listen %q: want HOST:PORT, such as 127.0.0.1:8080: %v", c.HTTPListen, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("http_listen %q: port %q is not a number from 0 to 65535", c.HTTPListen, port)
	}
	if c.HTTPToken != "" && (len(c.HTTPToken) < minTokenLen || strings.ContainsAny(c.HTTPToken, " \t\r\n;,\"")) {
		return fmt.Errorf("http_token must be at least %d characters, without spaces, commas, semicolons or quotes", minTokenLen)
	}
	if !webview.IsLoopbackHost(host) && c.HTTPToken == "" {
		return fmt.Errorf("http_listen %q is not a loopback address, and http_token is not set: anyone who can reach it "+
			"would see the mesh and this endpoint's tasks; set http_token (%d characters or more) or listen on 127.0.0.1", c.HTTPListen, minTokenLen)
	}
	return nil
}
