package chaos

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// nlHeader returns a netlink header in host byte order.
func nlHeader(size uint32, typ, flags uint16, seq uint32) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, size)
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	return ne.AppendUint32(b, 0)
}

// attr returns an attribute header in host byte order, then data padded.
func attr(typ uint16, data ...byte) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint16(nil, uint16(4+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestNfqEncode pins every message we send, byte for byte, against the
// layouts of linux/netfilter/nfnetlink_queue.h: type NFNL_SUBSYS_QUEUE<<8 |
// msg, nfgenmsg {AF_UNSPEC, NFNETLINK_V0, be16 queue}, big-endian payloads.
func TestNfqEncode(t *testing.T) {
	nfgen := []byte{0, 0, 0x01, 0x02} // queue 258, big-endian
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"bind", configCmd(7, 258, nfqnlCfgCmdBind),
			cat(nlHeader(28, 0x0302, 0x0005, 7), nfgen, attr(1, 1, 0, 0, 0))},
		{"unbind", configCmd(8, 258, nfqnlCfgCmdUnbind),
			cat(nlHeader(28, 0x0302, 0x0005, 8), nfgen, attr(1, 2, 0, 0, 0))},
		{"params: packed 5 bytes, padded", configParams(9, 258, 0xffff, nfqnlCopyMeta),
			cat(nlHeader(32, 0x0302, 0x0005, 9), nfgen, attr(2, 0, 0, 0xff, 0xff, 1))},
		{"max length", configMaxLen(10, 258, 65536),
			cat(nlHeader(28, 0x0302, 0x0005, 10), nfgen, attr(3, 0, 1, 0, 0))},
		{"verdict accept", verdictMsg(11, 258, 0x01020304, nfAccept, false),
			cat(nlHeader(32, 0x0301, 0x0001, 11), nfgen, attr(2, 0, 0, 0, 1, 1, 2, 3, 4))},
		{"batch verdict drop", verdictMsg(12, 258, 5, nfDrop, true),
			cat(nlHeader(32, 0x0303, 0x0001, 12), nfgen, attr(2, 0, 0, 0, 0, 0, 0, 0, 5))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.got)
			// Our own decoder reads it back.
			msgs, err := splitNetlink(tc.got)
			require.NoError(t, err)
			require.Len(t, msgs, 1)
			as, err := attrs(msgs[0].payload)
			require.NoError(t, err)
			require.Len(t, as, 1)
		})
	}
}

// kernelPacket builds an NFQNL_MSG_PACKET the way the kernel does: packet
// header first, then other attributes, one with NLA_F_NET_BYTEORDER set.
func kernelPacket(seq uint32, queue uint16, id uint32, hook uint8) []byte {
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = binary.BigEndian.AppendUint16(hdr, 0x0800) // ETH_P_IP
	hdr = append(hdr, hook)
	body := cat(
		[]byte{2 /* AF_INET */, 0, byte(queue >> 8), byte(queue)},
		attr(nfqaPacketHdr, hdr...),
		attr(5|0x4000 /* NFQA_IFINDEX_INDEV, net byte order */, 0, 0, 0, 3),
		attr(10 /* NFQA_PAYLOAD */),
	)
	return cat(nlHeader(uint32(nlmsgHdrLen+len(body)), nfqType(nfqnlMsgPacket), 0, seq), body)
}

func TestNfqDecode(t *testing.T) {
	// Two packets and an error reply in one datagram, as recv returns them.
	nlerr := cat(binary.NativeEndian.AppendUint32(nil, uint32(0xfffffffe)) /* -ENOENT */, nlHeader(32, 0x0303, 1, 41))
	dgram := cat(kernelPacket(0, 100, 1, 1), kernelPacket(0, 100, 0xfffffffe, 3),
		nlHeader(uint32(nlmsgHdrLen+len(nlerr)), nlmsgError, 0, 41), nlerr)
	msgs, err := splitNetlink(dgram)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	for i, want := range []queuedPacket{{num: 100, id: 1, proto: 0x0800, hook: 1}, {num: 100, id: 0xfffffffe, proto: 0x0800, hook: 3}} {
		require.Equal(t, nfqType(nfqnlMsgPacket), msgs[i].typ)
		p, err := parsePacket(msgs[i].payload)
		require.NoError(t, err)
		require.Equal(t, want, p)
	}
	require.Equal(t, uint16(nlmsgError), msgs[2].typ)
	errno, seq, err := parseNlError(msgs[2].payload)
	require.NoError(t, err)
	require.Equal(t, int32(-2), errno)
	require.Equal(t, uint32(41), seq)

	// An ack is an error reply with errno 0.
	ack := cat(make([]byte, 4), nlHeader(28, 0x0302, 5, 7))
	errno, seq, err = parseNlError(ack)
	require.NoError(t, err)
	require.Zero(t, errno)
	require.Equal(t, uint32(7), seq)
}

// TestNfqDecodeBroken: truncated or lying lengths are errors, never panics.
func TestNfqDecodeBroken(t *testing.T) {
	good := kernelPacket(0, 100, 9, 1)
	for n := range len(good) {
		msgs, _ := splitNetlink(good[:n])
		for _, m := range msgs {
			_, _ = parsePacket(m.payload)
		}
	}
	bad := append([]byte(nil), good...)
	binary.NativeEndian.PutUint32(bad, uint32(len(good)+4))
	_, err := splitNetlink(bad)
	require.ErrorIs(t, err, errShortNetlink)

	noHdr := cat(nlHeader(nlmsgHdrLen+4+8, nfqType(nfqnlMsgPacket), 0, 0), []byte{2, 0, 0, 100}, attr(5, 0, 0, 0, 3))
	msgs, err := splitNetlink(noHdr)
	require.NoError(t, err)
	_, err = parsePacket(msgs[0].payload)
	require.ErrorContains(t, err, "NFQA_PACKET_HDR")

	_, _, err = parseNlError([]byte{0, 0, 0, 0})
	require.ErrorIs(t, err, errShortNetlink)
}

func TestParseQueueProc(t *testing.T) {
	// Format of nfnetlink_queue's seq_show: "%5u %6u %5u %1u %5u %5u %5u %8u %2d".
	text := "  100 123456    12 1     0     0     3      340  1\n  101   4242     0 1     0     7     0        9  1\n"
	pq, ok := parseQueueProc(text, 100)
	require.True(t, ok)
	require.Equal(t, queueProc{Num: 100, PortID: 123456, Waiting: 12, UserDropped: 3, IDSeq: 340}, pq)
	pq, ok = parseQueueProc(text, 101)
	require.True(t, ok)
	require.Equal(t, uint32(7), pq.QueueDropped)
	_, ok = parseQueueProc(text, 102)
	require.False(t, ok)
	_, ok = parseQueueProc("", 100)
	require.False(t, ok)
}

// TestNewRuleTemplates pins the hold/delay and loss rules: same chain,
// same tag, both ways, no --queue-bypass (a dead handler fails closed).
func TestNewRuleTemplates(t *testing.T) {
	p := netip.MustParseAddr("10.200.1.3")
	tag := Tag("abc123", "f1")
	require.Equal(t, []string{
		"-s 10.200.1.3/32 -m comment --comment chaosrun:abc123:f1 -j NFQUEUE --queue-num 101",
		"-d 10.200.1.3/32 -m comment --comment chaosrun:abc123:f1 -j NFQUEUE --queue-num 101",
	}, queueRules(tag, []netip.Addr{p}, 101))
	require.Equal(t, []string{
		"-s 10.200.1.3/32 -m comment --comment chaosrun:abc123:f1",
		"-s 10.200.1.3/32 -m statistic --mode random --probability 0.3 -m comment --comment chaosrun:abc123:f1 -j DROP",
		"-d 10.200.1.3/32 -m comment --comment chaosrun:abc123:f1",
		"-d 10.200.1.3/32 -m statistic --mode random --probability 0.3 -m comment --comment chaosrun:abc123:f1 -j DROP",
	}, lossRules(tag, []netip.Addr{p}, 0.3))
	for _, s := range append(queueRules(tag, []netip.Addr{p}, 101), lossRules(tag, []netip.Addr{p}, 0.3)...) {
		require.Equal(t, tag, commentOf(s), "clean finds rules by their tag")
	}
}
