// Package vhostuser is a vhost-user backend (QEMU's docs/interop/vhost-user.rst)
// for virtio-net split virtqueues, in pure Go: a VM's or DPDK virtio-user's
// NIC queues live in the front end's shared memory and the switch's PMDs
// poll them directly.
//
// The package has three layers: the wire protocol (this file: message
// framing and payload decoding), the device (device.go: the state machine
// the messages drive, memory regions, the stop-the-PMDs guard) and the
// rings (vring.go: descriptor walking over untrusted guest memory, the
// per-packet rx/tx paths). port.go ties a device to a socket and implements
// datapath.Port.
package vhostuser

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Front-end requests (vhost-user.rst "Front-end message types").
const (
	reqGetFeatures         = 1
	reqSetFeatures         = 2
	reqSetOwner            = 3
	reqResetOwner          = 4
	reqSetMemTable         = 5
	reqSetLogBase          = 6
	reqSetLogFD            = 7
	reqSetVringNum         = 8
	reqSetVringAddr        = 9
	reqSetVringBase        = 10
	reqGetVringBase        = 11
	reqSetVringKick        = 12
	reqSetVringCall        = 13
	reqSetVringErr         = 14
	reqGetProtocolFeatures = 15
	reqSetProtocolFeatures = 16
	reqGetQueueNum         = 17
	reqSetVringEnable      = 18
	reqSendRARP            = 19
	reqNetSetMTU           = 20
	reqSetBackendReqFD     = 21
	reqIOTLBMsg            = 22
	reqSetVringEndian      = 23
	reqGetConfig           = 24
	reqSetConfig           = 25
	reqPostcopyAdvise      = 28
	reqGetInflightFD       = 31
	reqGetMaxMemSlots      = 36
	reqSetStatus           = 39
	reqGetStatus           = 40
)

var reqNames = map[uint32]string{
	reqGetFeatures: "GET_FEATURES", reqSetFeatures: "SET_FEATURES", reqSetOwner: "SET_OWNER",
	reqResetOwner: "RESET_OWNER", reqSetMemTable: "SET_MEM_TABLE", reqSetLogBase: "SET_LOG_BASE",
	reqSetLogFD: "SET_LOG_FD", reqSetVringNum: "SET_VRING_NUM", reqSetVringAddr: "SET_VRING_ADDR",
	reqSetVringBase: "SET_VRING_BASE", reqGetVringBase: "GET_VRING_BASE", reqSetVringKick: "SET_VRING_KICK",
	reqSetVringCall: "SET_VRING_CALL", reqSetVringErr: "SET_VRING_ERR",
	reqGetProtocolFeatures: "GET_PROTOCOL_FEATURES", reqSetProtocolFeatures: "SET_PROTOCOL_FEATURES",
	reqGetQueueNum: "GET_QUEUE_NUM", reqSetVringEnable: "SET_VRING_ENABLE", reqSendRARP: "SEND_RARP",
	reqNetSetMTU: "NET_SET_MTU", reqSetBackendReqFD: "SET_BACKEND_REQ_FD", reqIOTLBMsg: "IOTLB_MSG",
	reqSetVringEndian: "SET_VRING_ENDIAN", reqGetConfig: "GET_CONFIG", reqSetConfig: "SET_CONFIG",
	reqPostcopyAdvise: "POSTCOPY_ADVISE", reqGetInflightFD: "GET_INFLIGHT_FD",
	reqGetMaxMemSlots: "GET_MAX_MEM_SLOTS", reqSetStatus: "SET_STATUS", reqGetStatus: "GET_STATUS",
}

// replies lists the requests that always get a reply, negotiated features or
// not. An unsupported one still gets an (empty, hence invalid) reply so the
// front end fails instead of waiting forever.
var replies = map[uint32]bool{
	reqGetFeatures: true, reqGetProtocolFeatures: true, reqGetVringBase: true,
	reqGetQueueNum: true, reqGetConfig: true, reqPostcopyAdvise: true,
	reqGetInflightFD: true, reqGetMaxMemSlots: true, reqGetStatus: true,
}

func reqName(r uint32) string {
	if n, ok := reqNames[r]; ok {
		return n
	}
	return fmt.Sprintf("request %d", r)
}

// Header flags.
const (
	flagVersion   = 0x1
	flagReply     = 0x4
	flagNeedReply = 0x8
	versionMask   = 0x3
)

// Payload u64 of SET_VRING_KICK/CALL/ERR.
const (
	vringIdxMask = 0xff
	vringNoFD    = 0x100
)

const (
	hdrSize = 12
	// maxPayload bounds a message body; the largest one a net backend sees
	// is a memory table (8 + 8*32 bytes). Anything larger is a framing
	// error and ends the connection.
	maxPayload = 4096
	// maxFDs is the most descriptors one message carries (a memory table).
	maxFDs     = 8
	maxRegions = 8
)

// Virtio feature bits.
const (
	fCsum             = 1 << 0
	fMTU              = 1 << 3
	fHostTSO4         = 1 << 11
	fHostTSO6         = 1 << 12
	fHostECN          = 1 << 13
	fMrgRxbuf         = 1 << 15
	fMQ               = 1 << 22
	fIndirect         = 1 << 28
	fEventIdx         = 1 << 29
	fProtocolFeatures = 1 << 30
	fVersion1         = 1 << 32
	fInOrder          = 1 << 35
)

// Protocol feature bits.
const (
	pMQ       = 1 << 0
	pReplyAck = 1 << 3
	pNetMTU   = 1 << 4
	pStatus   = 1 << 16
)

var (
	errShort   = errors.New("payload too short")
	errFraming = errors.New("bad message framing")
)

// msg is one decoded message. The fds are owned by the msg until a handler
// takes one (setting its slot to -1); the rest are closed after handling.
type msg struct {
	req, flags, size uint32
	payload          [maxPayload]byte
	fds              [maxFDs]int
	nfds             int
}

// decodeHeader parses the 12-byte header.
func decodeHeader(b []byte) (req, flags, size uint32, err error) {
	if len(b) < hdrSize {
		return 0, 0, 0, errShort
	}
	req = binary.LittleEndian.Uint32(b)
	flags = binary.LittleEndian.Uint32(b[4:])
	size = binary.LittleEndian.Uint32(b[8:])
	if flags&versionMask != flagVersion {
		return 0, 0, 0, fmt.Errorf("%w: version %d", errFraming, flags&versionMask)
	}
	if size > maxPayload {
		return 0, 0, 0, fmt.Errorf("%w: payload of %d bytes", errFraming, size)
	}
	return req, flags, size, nil
}

func (m *msg) u64() (uint64, error) {
	if m.size < 8 {
		return 0, errShort
	}
	return binary.LittleEndian.Uint64(m.payload[:]), nil
}

// vringState is struct vhost_vring_state.
type vringState struct{ index, num uint32 }

func (m *msg) state() (vringState, error) {
	if m.size < 8 {
		return vringState{}, errShort
	}
	return vringState{binary.LittleEndian.Uint32(m.payload[:]), binary.LittleEndian.Uint32(m.payload[4:])}, nil
}

// vringAddr is struct vhost_vring_addr: front-end virtual addresses.
type vringAddr struct {
	index, flags           uint32
	desc, used, avail, log uint64
}

func (m *msg) addr() (vringAddr, error) {
	if m.size < 40 {
		return vringAddr{}, errShort
	}
	p := m.payload[:]
	return vringAddr{
		index: binary.LittleEndian.Uint32(p), flags: binary.LittleEndian.Uint32(p[4:]),
		desc: binary.LittleEndian.Uint64(p[8:]), used: binary.LittleEndian.Uint64(p[16:]),
		avail: binary.LittleEndian.Uint64(p[24:]), log: binary.LittleEndian.Uint64(p[32:]),
	}, nil
}

// memRegion is struct vhost_user_memory_region.
type memRegion struct {
	gpa, size, uaddr, offset uint64
}

// memTableMsg decodes SET_MEM_TABLE's payload.
func (m *msg) memTable() ([]memRegion, error) {
	if m.size < 8 {
		return nil, errShort
	}
	n := binary.LittleEndian.Uint32(m.payload[:])
	if n == 0 || n > maxRegions {
		return nil, fmt.Errorf("%d memory regions (1 to %d allowed)", n, maxRegions)
	}
	if m.size < 8+32*n {
		return nil, errShort
	}
	rs := make([]memRegion, n)
	for i := range rs {
		p := m.payload[8+32*i:]
		rs[i] = memRegion{
			gpa: binary.LittleEndian.Uint64(p), size: binary.LittleEndian.Uint64(p[8:]),
			uaddr: binary.LittleEndian.Uint64(p[16:]), offset: binary.LittleEndian.Uint64(p[24:]),
		}
		r := rs[i]
		if r.size == 0 || r.gpa+r.size < r.gpa || r.uaddr+r.size < r.uaddr || r.offset+r.size < r.offset {
			return nil, fmt.Errorf("memory region %d: bad size %#x (gpa %#x uaddr %#x offset %#x)", i, r.size, r.gpa, r.uaddr, r.offset)
		}
	}
	return rs, nil
}

// takeFD removes the message's first fd from it and returns it (or -1).
func (m *msg) takeFD() int {
	for i := 0; i < m.nfds; i++ {
		if fd := m.fds[i]; fd >= 0 {
			m.fds[i] = -1
			return fd
		}
	}
	return -1
}

// encodeReply lays out a reply header and payload in buf.
func encodeReply(buf []byte, req uint32, payload []byte) []byte {
	buf = buf[:0]
	buf = binary.LittleEndian.AppendUint32(buf, req)
	buf = binary.LittleEndian.AppendUint32(buf, flagVersion|flagReply)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	return append(buf, payload...)
}
