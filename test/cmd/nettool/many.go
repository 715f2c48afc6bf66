package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// listenMany listens on n consecutive TCP ports from -port, accepts one
// connection on each, reads it to EOF and closes it; it prints
// "listening N" once every port accepts, then "conns=N bytes=B".
func listenMany(args []string) error {
	fs := flag.NewFlagSet("listenmany", flag.ExitOnError)
	addr := fs.String("addr", "", "IP address to listen on")
	first := fs.Int("port", 6000, "first port")
	n := fs.Int("n", 20, "number of consecutive ports")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Parse(args)

	deadline := time.Now().Add(*timeout)
	lns := make([]*net.TCPListener, 0, *n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := range *n {
		ln, err := net.Listen("tcp", net.JoinHostPort(*addr, strconv.Itoa(*first+i)))
		if err != nil {
			return err
		}
		tl := ln.(*net.TCPListener)
		tl.SetDeadline(deadline)
		lns = append(lns, tl)
	}
	fmt.Printf("listening %d\n", len(lns))

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		conns int
		errs  []error
	)
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ln.Accept()
			if err == nil {
				c.SetDeadline(deadline)
				var k int64
				k, err = io.Copy(io.Discard, c)
				c.Close()
				mu.Lock()
				total += k
				conns++
				mu.Unlock()
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("port %s: %w", ln.Addr(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("conns=%d bytes=%d\n", conns, total)
	return errors.Join(errs...)
}

// connectMany opens one TCP connection to each of n consecutive ports from
// -port, one after the other, writes -bytes on each, half-closes and waits
// for the peer to close; it prints "conns=N bytes=B".
func connectMany(args []string) error {
	fs := flag.NewFlagSet("connectmany", flag.ExitOnError)
	addr := fs.String("addr", "", "IP address to connect to")
	first := fs.Int("port", 6000, "first port")
	n := fs.Int("n", 20, "number of consecutive ports")
	size := fs.Int("bytes", 4096, "bytes to send on each connection")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Parse(args)

	deadline := time.Now().Add(*timeout)
	buf := make([]byte, *size)
	for i := range buf {
		buf[i] = byte(i)
	}
	var total int64
	for i := range *n {
		to := net.JoinHostPort(*addr, strconv.Itoa(*first+i))
		c, err := net.DialTimeout("tcp", to, 5*time.Second)
		if err != nil {
			return fmt.Errorf("connect %s: %w", to, err)
		}
		c.SetDeadline(deadline)
		k, err := c.Write(buf)
		total += int64(k)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		if err == nil {
			_, err = io.Copy(io.Discard, c)
		}
		c.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", to, err)
		}
	}
	fmt.Printf("conns=%d bytes=%d\n", *n, total)
	return nil
}
