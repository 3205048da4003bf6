package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The netfilter queue protocol (linux/netfilter/nfnetlink_queue.h,
// linux/netfilter/nfnetlink.h, linux/netlink.h), encoded and decoded here
// without a socket so it can be tested anywhere. A message is a netlink
// header (host byte order), an nfgenmsg {u8 family, u8 version, be16
// res_id} whose res_id is the queue number, then attributes {u16 len, u16
// type, payload padded to 4} whose payloads are big-endian.
const (
	nfnlSubsysQueue = 3 // NFNL_SUBSYS_QUEUE

	nfqnlMsgPacket       = 0 // NFQNL_MSG_PACKET: kernel → us, one queued packet
	nfqnlMsgVerdict      = 1 // NFQNL_MSG_VERDICT: one packet's verdict
	nfqnlMsgConfig       = 2 // NFQNL_MSG_CONFIG
	nfqnlMsgVerdictBatch = 3 // NFQNL_MSG_VERDICT_BATCH: every packet with id <= the given one

	nfqaPacketHdr  = 1 // NFQA_PACKET_HDR: be32 packet_id, be16 hw_protocol, u8 hook
	nfqaVerdictHdr = 2 // NFQA_VERDICT_HDR: be32 verdict, be32 id

	nfqaCfgCmd         = 1 // NFQA_CFG_CMD: u8 command, u8 pad, be16 pf
	nfqaCfgParams      = 2 // NFQA_CFG_PARAMS: be32 copy_range, u8 copy_mode (packed)
	nfqaCfgQueueMaxlen = 3 // NFQA_CFG_QUEUE_MAXLEN: be32

	nfqnlCfgCmdBind   = 1 // NFQNL_CFG_CMD_BIND
	nfqnlCfgCmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND

	nfqnlCopyMeta = 1 // NFQNL_COPY_META: metadata only, no payload

	nfDrop   = 0 // NF_DROP
	nfAccept = 1 // NF_ACCEPT

	nlmsgError  = 2      // NLMSG_ERROR: an ack (error 0) or an error reply
	nlmFRequest = 0x1    // NLM_F_REQUEST
	nlmFAck     = 0x4    // NLM_F_ACK
	nlaTypeMask = 0x3fff // attribute type without NLA_F_NESTED / NLA_F_NET_BYTEORDER

	nlmsgHdrLen = 16
	nfgenHdrLen = 4
	nlaHdrLen   = 4
)

// nfqType is the netlink message type of a queue subsystem message.
func nfqType(msg uint8) uint16 { return nfnlSubsysQueue<<8 | uint16(msg) }

// nlAttr is one netlink attribute.
type nlAttr struct {
	typ  uint16
	data []byte
}

func align4(n int) int { return (n + 3) &^ 3 }

// nfqMsg encodes one message of the queue subsystem for queue num.
func nfqMsg(msg uint8, flags uint16, seq uint32, num uint16, attrs ...nlAttr) []byte {
	size := nlmsgHdrLen + nfgenHdrLen
	for _, a := range attrs {
		size += align4(nlaHdrLen + len(a.data))
	}
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(size))
	ne.PutUint16(b[4:], nfqType(msg))
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], seq)
	// b[12:16]: port id 0, the kernel.
	b[16] = 0 // AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:], num)
	off := nlmsgHdrLen + nfgenHdrLen
	for _, a := range attrs {
		ne.PutUint16(b[off:], uint16(nlaHdrLen+len(a.data)))
		ne.PutUint16(b[off+2:], a.typ)
		copy(b[off+nlaHdrLen:], a.data)
		off += align4(nlaHdrLen + len(a.data))
	}
	return b
}

// configCmd binds (nfqnlCfgCmdBind) or unbinds the socket to queue num;
// the kernel acks it.
func configCmd(seq uint32, num uint16, cmd uint8) []byte {
	return nfqMsg(nfqnlMsgConfig, nlmFRequest|nlmFAck, seq, num, nlAttr{nfqaCfgCmd, []byte{cmd, 0, 0, 0}})
}

// configParams sets the copy mode of queue num; acked.
func configParams(seq uint32, num uint16, copyRange uint32, mode uint8) []byte {
	p := make([]byte, 5)
	binary.BigEndian.PutUint32(p, copyRange)
	p[4] = mode
	return nfqMsg(nfqnlMsgConfig, nlmFRequest|nlmFAck, seq, num, nlAttr{nfqaCfgParams, p})
}

// configMaxLen sets how many packets queue num may hold; acked.
func configMaxLen(seq uint32, num uint16, maxLen uint32) []byte {
	return nfqMsg(nfqnlMsgConfig, nlmFRequest|nlmFAck, seq, num, nlAttr{nfqaCfgQueueMaxlen, binary.BigEndian.AppendUint32(nil, maxLen)})
}

// verdictMsg gives packet id of queue num a verdict (nfAccept, nfDrop);
// with batch, every packet still queued with an id up to id gets it, in
// queue (arrival) order. Not acked: the kernel replies only on error.
func verdictMsg(seq uint32, num uint16, id, verdict uint32, batch bool) []byte {
	v := binary.BigEndian.AppendUint32(nil, verdict)
	v = binary.BigEndian.AppendUint32(v, id)
	msg := uint8(nfqnlMsgVerdict)
	if batch {
		msg = nfqnlMsgVerdictBatch
	}
	return nfqMsg(msg, nlmFRequest, seq, num, nlAttr{nfqaVerdictHdr, v})
}

// nlMsg is one decoded netlink message.
type nlMsg struct {
	typ     uint16
	flags   uint16
	seq     uint32
	payload []byte // after the netlink header
}

var errShortNetlink = errors.New("chaos: nfqueue: truncated netlink message")

// splitNetlink splits a datagram into its netlink messages.
func splitNetlink(b []byte) ([]nlMsg, error) {
	var out []nlMsg
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		n := int(ne.Uint32(b))
		if n < nlmsgHdrLen || n > len(b) {
			return out, fmt.Errorf("%w: length %d of %d bytes", errShortNetlink, n, len(b))
		}
		out = append(out, nlMsg{typ: ne.Uint16(b[4:]), flags: ne.Uint16(b[6:]), seq: ne.Uint32(b[8:]), payload: b[nlmsgHdrLen:n]})
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

// attrs walks the attributes of a queue message's payload (after the
// nfgenmsg) and returns them by type.
func attrs(payload []byte) (map[uint16][]byte, error) {
	if len(payload) < nfgenHdrLen {
		return nil, errShortNetlink
	}
	b := payload[nfgenHdrLen:]
	out := map[uint16][]byte{}
	ne := binary.NativeEndian
	for len(b) >= nlaHdrLen {
		n := int(ne.Uint16(b))
		if n < nlaHdrLen || n > len(b) {
			return out, fmt.Errorf("%w: attribute length %d of %d bytes", errShortNetlink, n, len(b))
		}
		out[ne.Uint16(b[2:])&nlaTypeMask] = b[nlaHdrLen:n]
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

// queuedPacket is what we read of one NFQNL_MSG_PACKET.
type queuedPacket struct {
	num   uint16 // the queue
	id    uint32
	proto uint16 // hw_protocol (ethertype)
	hook  uint8
}

// parsePacket decodes the payload of an NFQNL_MSG_PACKET.
func parsePacket(payload []byte) (queuedPacket, error) {
	as, err := attrs(payload)
	if err != nil {
		return queuedPacket{}, err
	}
	h, ok := as[nfqaPacketHdr]
	if !ok || len(h) < 7 {
		return queuedPacket{}, fmt.Errorf("chaos: nfqueue: packet without a valid NFQA_PACKET_HDR")
	}
	return queuedPacket{
		num: binary.BigEndian.Uint16(payload[2:]), id: binary.BigEndian.Uint32(h),
		proto: binary.BigEndian.Uint16(h[4:]), hook: h[6],
	}, nil
}

// parseNlError decodes the payload of an NLMSG_ERROR: the (negative)
// errno, 0 for an ack, and the sequence number of the message it answers.
func parseNlError(payload []byte) (errno int32, seq uint32, err error) {
	if len(payload) < 4+nlmsgHdrLen {
		return 0, 0, errShortNetlink
	}
	ne := binary.NativeEndian
	return int32(ne.Uint32(payload)), ne.Uint32(payload[4+8:]), nil
}

// queueProc is one line of /proc/net/netfilter/nfnetlink_queue: the
// kernel's view of a queue.
type queueProc struct {
	Num     uint16
	PortID  uint32
	Waiting uint32 // queue_total: packets waiting for a verdict
	// QueueDropped counts packets dropped because the queue was full,
	// UserDropped those the netlink socket could not take (ENOBUFS).
	QueueDropped, UserDropped uint32
	// IDSeq is the id of the last packet queued.
	IDSeq uint32
}

// parseQueueProc finds queue num in the text of
// /proc/net/netfilter/nfnetlink_queue: "queue portid waiting copy_mode
// copy_range queue_dropped user_dropped id_sequence 1" per line.
func parseQueueProc(text string, num uint16) (queueProc, bool) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		var v [8]uint64
		ok := true
		for i := range v {
			n, err := strconv.ParseUint(f[i], 10, 32)
			ok = ok && err == nil
			v[i] = n
		}
		if ok && v[0] == uint64(num) {
			return queueProc{Num: num, PortID: uint32(v[1]), Waiting: uint32(v[2]), QueueDropped: uint32(v[5]),
				UserDropped: uint32(v[6]), IDSeq: uint32(v[7])}, true
		}
	}
	return queueProc{}, false
}
