//go:build !unix

package main

import "net"

// smallBuffers is a plain dialer where socket buffer sizes cannot be set the Unix way.
var smallBuffers = &net.Dialer{}
