package main

import (
	"flag"
	"fmt"
	"net"
	"strings"
	"time"
)

// udpsend sends n datagrams with the same payload, optionally paced.
//
//	nettool udpsend -to 10.0.0.3:7777 -payload hello -n 1 [-interval 0]
func udpsend(args []string) error {
	fs := flag.NewFlagSet("udpsend", flag.ExitOnError)
	to := fs.String("to", "", "destination address:port")
	payload := fs.String("payload", "nettool", "datagram payload")
	n := fs.Int("n", 1, "datagrams to send")
	interval := fs.Duration("interval", 0, "pause between datagrams")
	fs.Parse(args)
	c, err := net.Dial("udp", *to)
	if err != nil {
		return err
	}
	defer c.Close()
	sent := 0
	for range *n {
		if _, err := c.Write([]byte(*payload)); err == nil {
			sent++
		}
		if *interval > 0 {
			time.Sleep(*interval)
		}
	}
	fmt.Printf("sent=%d\n", sent)
	return nil
}

// udprecv prints each datagram received ("from=ADDR payload=TEXT") until n
// arrived or the timeout passed; it prints "listening ADDR" once bound.
//
//	nettool udprecv -listen 10.0.0.3:7777 -n 1 -timeout 10s
func udprecv(args []string) error {
	fs := flag.NewFlagSet("udprecv", flag.ExitOnError)
	listen := fs.String("listen", "", "address:port to bind")
	n := fs.Int("n", 1, "datagrams to wait for")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after")
	fs.Parse(args)
	c, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("listening %s\n", c.LocalAddr())
	c.SetReadDeadline(time.Now().Add(*timeout))
	buf := make([]byte, 65536)
	for got := 0; got < *n; got++ {
		m, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("after %d datagrams: %w", got, err)
		}
		fmt.Printf("from=%s payload=%s\n", from, strings.ReplaceAll(string(buf[:m]), "\n", " "))
	}
	return nil
}
