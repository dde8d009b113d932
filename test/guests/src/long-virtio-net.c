/*
 * A tiny 64-bit guest that drives a virtio-net device directly over the
 * virtio-mmio transport (version 2), with no Linux in between, against a
 * peer at the other end of `--net stream=PATH` (the test plays it). Entered
 * through the Linux 64-bit boot protocol (long mode, first 4 GiB
 * identity-mapped, interrupts off); prints one line per step to COM1 and
 * ends with a status written to the exit device (port 0x501): 0 when every
 * check passed, a distinct non-zero code for the first check that failed.
 *
 * The NIC is found by scanning virtio-mmio slots 0..7 for device ID 1; other
 * devices (the default machine's entropy device) are left alone. Frames are
 * Ethernet with ethertype 0x88b5 between the guest's MAC and the peer's
 * (02:00:00:00:00:02), payload ASCII. The peer's part is scripted by the
 * guest: a TX frame whose payload starts with "cmd:" asks it for frames.
 *   1. cmd:early, sent before any receive buffer is posted: the peer sends
 *      early-1, early-2, early-3, a zero-length frame and early-4. They must
 *      wait in the socket until the guest posts buffers, then arrive whole,
 *      in order, once each; the zero-length frame is dropped. (Not sent when
 *      the VMM connects: the device drains what arrives while it is reset, and
 *      a driver starts with a reset.)
 *   2. TX: a frame in one descriptor, one over three, malformed chains (each
 *      returned unsent with used.len 0), then one more good frame.
 *   3. cmd:big: 1514 bytes (fits), 3000 bytes (does not fit one buffer
 *      without MRG_RXBUF: dropped), small-after-big.
 *   4. A descriptor loop in TX sets DEVICE_NEEDS_RESET; a reset recovers.
 *   5. With MRG_RXBUF, cmd:mrg: a 3000-byte frame over three 1 KiB buffers.
 *   6. cmd:burst (50 frames), eight TX frames, and a reset before they are
 *      done: nothing is written into the old buffers afterwards; after
 *      re-initialising, cmd:ping: what arrives before "pong" is the rest of
 *      the burst, in order, without duplicates.
 *   7. cmd:oversize: the peer sends a length word beyond the largest frame;
 *      the link goes down (config status, config-change interrupt) and the
 *      VMM keeps running.
 *
 * Interrupts stay off: completion is found by polling used.idx (bounded by
 * the TSC), and the interrupt status register is checked by hand.
 *
 * Built by ../build.sh (gcc, freestanding) into ../bin/long-virtio-net.elf.
 */
#include "virtio-mmio.h"

/* ---- entry: own stack, clear .bss, main(), exit with its status ---- */

__asm__(".section .bss\n"
        ".balign 16\n"
        "stack: .skip 16384\n"
        "stack_top:\n"
        ".text\n"
        ".globl _start\n"
        "_start:\n"
        CLEAR_BSS_AND_RUN_MAIN);

/* ---- console (tiny-guest.h has the rest) ---- */

static void puthex2(u8 v) {
  putc_("0123456789abcdef"[v >> 4]);
  putc_("0123456789abcdef"[v & 15]);
}

/* Failure codes: one per check, so the exit status alone says what broke. */
enum {
  E_NO_NIC = 10, E_TWO_NICS, E_FEAT_REFUSE, E_FEATURES, E_QUEUE, E_TIMEOUT, E_USED, E_IRQ, E_CONFIG, E_LINK_UP,
  E_EARLY = 20, E_EARLY_BEFORE_BUFFERS, E_EARLY_EXTRA, E_RX_HDR, E_RX_FRAME,
  E_TX = 30, E_TX_SPLIT, E_TX_BAD, E_TX_AFTER_BAD,
  E_BIG = 40, E_SMALL_AFTER_BIG,
  E_LOOP = 50, E_LOOP_IRQ, E_LOOP_USED, E_LOOP_RESET,
  E_MRG = 60, E_MRG_LEN, E_MRG_DATA,
  E_RIF_STATUS = 70, E_RIF_BEFORE, E_RIF_WRITTEN, E_RIF_USED, E_RIF_AFTER, E_RIF_PONG,
  E_LINK = 80, E_LINK_IRQ, E_LINK_GEN,
};

/*
 * TSC ticks, taking ~3 GHz: a timeout generous for a slow (nested) VMM (~25 s:
 * a nested L1 that froze is woken after up to ~15 s, and its guests' TSC ran
 * on meanwhile), and a quiet spell.
 */
#define TIMEOUT 75000000000ull
#define MS(n) ((u64)(n) * 3000000ull)

static void spin(u64 ticks) {
  u64 start = rdtsc();
  while (rdtsc() - start < ticks) __asm__ volatile("pause");
}

/* ---- the devices' windows, virtio-net (virtio-mmio.h has the transport) ---- */

#define MMIO_BASE 0xd0000000ull
#define SLOT_SIZE 0x1000
#define SLOTS 8

enum { F_CSUM = 0, F_MAC = 5, F_MRG_RXBUF = 15, F_STATUS = 16 };
enum { C_MAC = 0, C_STATUS = 6 }; /* virtio_net_config offsets */
enum { LINK_UP = 1 };
enum { VIRTIO_ID_NET = 1 };

/* ---- split virtqueues: 0 receives, 1 transmits ---- */

#define QN 16

struct avail {
  u16 flags;
  u16 idx;
  u16 ring[QN];
  u16 used_event;
};
struct used {
  u16 flags;
  u16 idx;
  struct used_elem ring[QN];
  u16 avail_event;
};

struct queue {
  u32 index;
  const char *name;
  struct desc *desc;
  struct avail *avail;
  struct used *used;
  u16 avail_idx; /* next avail.idx to publish */
  u16 used_seen; /* used.idx consumed so far */
};

static struct desc rx_desc[QN] __attribute__((aligned(16)));
static struct avail rx_avail __attribute__((aligned(4)));
static struct used rx_used __attribute__((aligned(8)));
static struct desc tx_desc[QN] __attribute__((aligned(16)));
static struct avail tx_avail __attribute__((aligned(4)));
static struct used tx_used __attribute__((aligned(8)));
static struct queue rxq = {0, "RX", rx_desc, &rx_avail, &rx_used, 0, 0};
static struct queue txq = {1, "TX", tx_desc, &tx_avail, &tx_used, 0, 0};

static u64 nic;     /* the NIC's register window */
static u8 mac[6];   /* from its config space */
static const u8 peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

static u16 used_idx(struct queue *q) { return *(volatile u16 *)&q->used->idx; }

/* Makes `n` more ring entries visible to the device and notifies it. */
static void publish(struct queue *q, int n) {
  barrier(); /* descriptors and ring entries before the index (x86: stores stay in order) */
  q->avail_idx = (u16)(q->avail_idx + n);
  *(volatile u16 *)&q->avail->idx = q->avail_idx;
  __asm__ volatile("mfence" : : : "memory");
  wr32(nic, R_QUEUE_NOTIFY, q->index);
}

/* Waits until the device has used `n` entries past used_seen (not consumed here). */
static void wait_used(struct queue *q, int n) {
  u16 want = (u16)(q->used_seen + n);
  u64 start = rdtsc();
  for (;;) {
    u16 now = used_idx(q);
    if ((u16)(now - q->used_seen) > (u16)(q->avail_idx - q->used_seen)) fail(E_USED, "used.idx moved past the chains made available");
    if ((u16)(now - q->used_seen) >= (u16)n) break;
    if (rdtsc() - start > TIMEOUT) {
      puts_(q->name);
      puts_(": used.idx ");
      putdec(now);
      puts_(", waiting for ");
      putdec(want);
      puts_(", device status ");
      puthex(rd32(nic, R_STATUS));
      putc_('\n');
      fail(E_TIMEOUT, "timed out waiting for the device");
    }
    __asm__ volatile("pause");
  }
  barrier();
}

/* Waits ~`ms` and fails when the device used anything of `q` meanwhile. */
static void expect_quiet(struct queue *q, u32 ms, int code, const char *what) {
  u16 before = used_idx(q);
  spin(MS(ms));
  if (used_idx(q) != before) fail(code, what);
}

static struct used_elem used_at(struct queue *q, u16 k) { return ((volatile struct used *)q->used)->ring[k % QN]; }

/* The used-buffer interrupt status bit must be up (interrupts are off: nobody else clears it); acks it. */
static void expect_used_interrupt(void) {
  u32 isr = rd32(nic, R_INT_STATUS);
  if (!(isr & INT_USED)) {
    puts_("interrupt status ");
    puthex(isr);
    putc_('\n');
    fail(E_IRQ, "used buffers returned without the used-buffer interrupt status bit");
  }
  wr32(nic, R_INT_ACK, INT_USED);
}

/* ---- frames ---- */

#define HDR 12      /* virtio_net_hdr_v1 */
#define ETH 14      /* dst, src, ethertype */
#define ETHERTYPE 0x88b5

struct net_hdr {
  u8 flags;
  u8 gso_type;
  u16 hdr_len;
  u16 gso_size;
  u16 csum_start;
  u16 csum_offset;
  u16 num_buffers;
};

static u32 slen(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

/* header (all zero: no offloads), peer <- guest, ethertype, payload; returns header + frame length */
static u32 build_frame(u8 *p, const char *payload) {
  u32 n = slen(payload);
  memset(p, 0, HDR);
  memcpy(p + HDR, peer_mac, 6);
  memcpy(p + HDR + 6, mac, 6);
  p[HDR + 12] = ETHERTYPE >> 8;
  p[HDR + 13] = ETHERTYPE & 0xff;
  memcpy(p + HDR + ETH, payload, n);
  return HDR + ETH + n;
}

/* Prints what a received buffer holds (the first bytes of its payload, as text). */
static void show_frame(const u8 *p, u32 len) {
  puts_("got ");
  putdec(len);
  puts_(" bytes with the header");
  if (len > HDR + ETH) {
    puts_(", payload \"");
    for (u32 i = HDR + ETH; i < len && i < HDR + ETH + 24; i++) putc_(p[i] >= 32 && p[i] < 127 ? (char)p[i] : '.');
    putc_('"');
  }
  putc_('\n');
}

/* The header of a received frame: no offloads, `nbuf` buffers. */
static void expect_rx_header(const u8 *p, u16 nbuf) {
  const struct net_hdr *h = (const struct net_hdr *)p;
  if (h->flags != 0 || h->gso_type != 0) fail(E_RX_HDR, "a received header has flags or a GSO type (none negotiated)");
  if (h->num_buffers != nbuf) {
    puts_("num_buffers ");
    putdec(h->num_buffers);
    puts_(", expected ");
    putdec(nbuf);
    putc_('\n');
    fail(E_RX_HDR, "num_buffers of a received frame is wrong");
  }
}

/* Ethernet header of a frame from the peer: to us, from the peer, our ethertype. */
static int addressed_to_us(const u8 *f) {
  for (int i = 0; i < 6; i++)
    if (f[i] != mac[i] || f[6 + i] != peer_mac[i]) return 0;
  return f[12] == (ETHERTYPE >> 8) && f[13] == (ETHERTYPE & 0xff);
}

/* Whether a one-buffer received frame (header included, `len` bytes) carries `payload` exactly. */
static int is_frame(const u8 *p, u32 len, const char *payload) {
  u32 n = slen(payload);
  if (len != HDR + ETH + n || !addressed_to_us(p + HDR)) return 0;
  for (u32 i = 0; i < n; i++)
    if (p[HDR + ETH + i] != (u8)payload[i]) return 0;
  return 1;
}

static void expect_frame(int code, const u8 *p, u32 len, const char *payload) {
  if (is_frame(p, len, payload)) {
    expect_rx_header(p, 1);
    return;
  }
  puts_("expected \"");
  puts_(payload);
  puts_("\", ");
  show_frame(p, len);
  fail(code, "a received frame is not the one expected");
}

/* ---- receive buffers: descriptor k % QN for the k-th buffer posted, used in that order ---- */

static u8 rxbuf[QN][1536] __attribute__((aligned(4096)));
static u32 rx_size; /* bytes each posted buffer offers */

static void rx_post(int n) {
  if ((u16)(rxq.avail_idx + n - rxq.used_seen) > QN) fail(E_QUEUE, "more receive buffers than descriptors");
  for (int k = 0; k < n; k++) {
    u16 i = (u16)(rxq.avail_idx + k) % QN;
    rxq.desc[i].addr = (u64)(unsigned long)rxbuf[i];
    rxq.desc[i].len = rx_size;
    rxq.desc[i].flags = DESC_WRITE;
    rxq.desc[i].next = 0;
    rxq.avail->ring[i] = i;
  }
  publish(&rxq, n);
}

/* The next used receive buffer (waits for it); its length in *len. */
static u8 *rx_take(u32 *len) {
  wait_used(&rxq, 1);
  u16 k = rxq.used_seen;
  struct used_elem e = used_at(&rxq, k);
  if (e.id != (u32)(k % QN)) fail(E_USED, "receive buffers came back out of order");
  if (e.len > rx_size) fail(E_USED, "used.len of a receive buffer is larger than the buffer");
  rxq.used_seen++;
  *len = e.len;
  return rxbuf[e.id];
}

static void rx_expect(int code, const char *payload) {
  u32 len;
  u8 *p = rx_take(&len);
  expect_frame(code, p, len, payload);
}

/* ---- transmit chains, built from descriptor 0 up for each batch ---- */

static u8 txbuf[QN][64] __attribute__((aligned(64)));
static u8 big[16384] __attribute__((aligned(4096)));
static int tx_ndesc, tx_pending;
static u16 tx_heads[QN];

static void tx_begin(void) {
  tx_ndesc = 0;
  tx_pending = 0;
}

/* Appends one descriptor to the chain being built; returns its index. */
static int tx_add(u64 addr, u32 len, u16 flags, int chained) {
  int i = tx_ndesc++;
  if (i >= QN) fail(E_QUEUE, "out of TX descriptors");
  txq.desc[i].addr = addr;
  txq.desc[i].len = len;
  txq.desc[i].flags = (u16)(flags | (chained ? DESC_NEXT : 0));
  txq.desc[i].next = (u16)(i + 1);
  return i;
}
static int tx_add_buf(const void *p, u32 len, u16 flags, int chained) { return tx_add((u64)(unsigned long)p, len, flags, chained); }

static void tx_chain(int head) {
  txq.avail->ring[(u16)(txq.avail_idx + tx_pending) % QN] = (u16)head;
  tx_heads[tx_pending++] = (u16)head;
}

/* Publishes the batch and waits until every chain of it is back, each with used.len 0 (TX writes nothing). */
static void tx_submit_wait(int code) {
  int n = tx_pending;
  publish(&txq, n);
  wait_used(&txq, n);
  for (int i = 0; i < n; i++) {
    struct used_elem e = used_at(&txq, (u16)(txq.used_seen + i));
    int found = 0;
    for (int j = 0; j < n; j++) found |= e.id == tx_heads[j];
    if (!found) fail(code, "a TX used element names a chain not in the batch");
    if (e.len != 0) fail(code, "a TX chain came back with used.len not 0");
  }
  txq.used_seen = (u16)(txq.used_seen + n);
  expect_used_interrupt();
}

/* One frame in one descriptor (header + frame), sent and returned. */
static void tx_send(int code, const char *payload) {
  tx_begin();
  tx_chain(tx_add_buf(txbuf[0], build_frame(txbuf[0], payload), 0, 0));
  tx_submit_wait(code);
}

/* ---- device set-up ---- */

static u64 device_features(void) {
  wr32(nic, R_DEV_FEAT_SEL, 1);
  u64 f = (u64)rd32(nic, R_DEV_FEAT) << 32;
  wr32(nic, R_DEV_FEAT_SEL, 0);
  return f | rd32(nic, R_DEV_FEAT);
}

/* Reset, ACK|DRIVER, offer `f`, FEATURES_OK; returns whether the device kept FEATURES_OK. */
static int negotiate(u64 f) {
  wr32(nic, R_STATUS, 0);
  u64 start = rdtsc();
  while (rd32(nic, R_STATUS) != 0)
    if (rdtsc() - start > TIMEOUT) fail(E_FEATURES, "status does not read 0 after reset");
  wr32(nic, R_STATUS, S_ACK);
  wr32(nic, R_STATUS, S_ACK | S_DRIVER);
  wr32(nic, R_DRV_FEAT_SEL, 0);
  wr32(nic, R_DRV_FEAT, (u32)f);
  wr32(nic, R_DRV_FEAT_SEL, 1);
  wr32(nic, R_DRV_FEAT, (u32)(f >> 32));
  wr32(nic, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  return (rd32(nic, R_STATUS) & S_FEATURES_OK) != 0;
}

static void setup_queue(struct queue *q) {
  wr32(nic, R_QUEUE_SEL, q->index);
  if (rd32(nic, R_QUEUE_NUM_MAX) < QN) fail(E_QUEUE, "QueueNumMax smaller than 16");
  if (rd32(nic, R_QUEUE_READY) != 0) fail(E_QUEUE, "queue ready before set-up");
  memset(q->desc, 0, sizeof(struct desc) * QN);
  memset(q->avail, 0, sizeof *q->avail);
  memset(q->used, 0, sizeof *q->used);
  q->avail_idx = q->used_seen = 0;
  wr32(nic, R_QUEUE_NUM, QN);
  wr32(nic, R_DESC_LO, (u32)(unsigned long)q->desc);
  wr32(nic, R_DESC_HI, 0);
  wr32(nic, R_DRIVER_LO, (u32)(unsigned long)q->avail);
  wr32(nic, R_DRIVER_HI, 0);
  wr32(nic, R_DEVICE_LO, (u32)(unsigned long)q->used);
  wr32(nic, R_DEVICE_HI, 0);
  wr32(nic, R_QUEUE_READY, 1);
  if (rd32(nic, R_QUEUE_READY) != 1) fail(E_QUEUE, "QueueReady does not read back 1");
}

static u16 link_status(void) { return rd16(nic, R_CONFIG + C_STATUS); }

/* Negotiates VERSION_1|MAC|STATUS (|MRG_RXBUF), sets up both queues, DRIVER_OK. */
static void init_device(int mergeable) {
  u64 offered = device_features();
  u64 want = (1ull << F_VERSION_1) | (1ull << F_MAC) | (1ull << F_STATUS);
  if ((offered & want) != want) fail(E_FEATURES, "VERSION_1, MAC or STATUS not offered");
  if (!(offered & (1ull << F_MRG_RXBUF))) fail(E_FEATURES, "MRG_RXBUF not offered");
  /* the device must refuse feature sets it cannot accept (CSUM is an offload tsvmm does not offer) */
  if (negotiate(1ull << F_MAC)) fail(E_FEAT_REFUSE, "FEATURES_OK accepted without VIRTIO_F_VERSION_1");
  if (!(offered & (1ull << F_CSUM)) && negotiate(want | (1ull << F_CSUM))) fail(E_FEAT_REFUSE, "FEATURES_OK accepted with a feature never offered");
  if (mergeable) want |= 1ull << F_MRG_RXBUF;
  if (!negotiate(want)) fail(E_FEATURES, "FEATURES_OK refused for VERSION_1|MAC|STATUS(|MRG_RXBUF)");

  for (int i = 0; i < 6; i++) mac[i] = rd8(nic, R_CONFIG + C_MAC + (u32)i);
  if (!(link_status() & LINK_UP)) fail(E_LINK_UP, "the link is not up");
  wr32(nic, R_QUEUE_SEL, 2);
  if (rd32(nic, R_QUEUE_NUM_MAX) != 0) fail(E_QUEUE, "queue 2 exists without a control queue negotiated");
  setup_queue(&rxq);
  setup_queue(&txq);
  wr32(nic, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  if (rd32(nic, R_STATUS) != (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)) fail(E_QUEUE, "status is not DRIVER_OK after set-up");
}

/* The one virtio-net device in slots 0..7 (reads only MagicValue and DeviceID of the others). */
static int find_nic(void) {
  int found = -1;
  for (int s = 0; s < SLOTS; s++) {
    u64 b = MMIO_BASE + (u64)s * SLOT_SIZE;
    if (rd32(b, R_MAGIC) != MAGIC || rd32(b, R_DEVICE_ID) != VIRTIO_ID_NET) continue;
    if (found >= 0) fail(E_TWO_NICS, "more than one virtio-net device");
    found = s;
  }
  if (found < 0) fail(E_NO_NIC, "no virtio-net device in slots 0..7");
  nic = MMIO_BASE + (u64)found * SLOT_SIZE;
  if (rd32(nic, R_VERSION) != 2) fail(E_NO_NIC, "not a version 2 (modern) virtio-mmio device");
  return found;
}

/* ---- the steps ---- */

/* The peer's first frames waited in the socket for buffers; all arrive, in order, once. */
static void early_frames(void) {
  rx_size = HDR + 1514;
  tx_send(E_EARLY, "cmd:early");
  expect_quiet(&rxq, 500, E_EARLY_BEFORE_BUFFERS, "RX used.idx moved before any buffer was posted");
  rx_post(2);
  rx_expect(E_EARLY, "early-1");
  rx_expect(E_EARLY, "early-2");
  expect_used_interrupt();
  expect_quiet(&rxq, 100, E_EARLY_EXTRA, "RX used.idx moved past the two buffers posted");
  rx_post(4);
  rx_expect(E_EARLY, "early-3");
  rx_expect(E_EARLY, "early-4"); /* the zero-length frame between them is dropped */
  expect_quiet(&rxq, 100, E_EARLY_EXTRA, "a frame arrived after early-4");
  puts_("rx: early-1..4 waited for buffers, arrived in order, zero-length frame dropped\n");
}

/* Good frames go out whole; malformed chains come back unsent. */
static void transmit(void) {
  tx_send(E_TX, "tx-one");

  u32 n = build_frame(txbuf[1], "tx-split");
  tx_begin();
  int head = tx_add_buf(txbuf[1], HDR, 0, 1);
  tx_add_buf(txbuf[1] + HDR, 10, 0, 1);
  tx_add_buf(txbuf[1] + HDR + 10, n - HDR - 10, 0, 0);
  tx_chain(head);
  tx_submit_wait(E_TX_SPLIT);

  tx_begin();
  memset(txbuf[2], 0, HDR);
  tx_chain(tx_add_buf(txbuf[2], HDR, 0, 0)); /* a header and no frame */
  tx_chain(tx_add_buf(txbuf[2], 4, 0, 0));   /* shorter than the header */
  build_frame(big, "oversized");
  head = tx_add_buf(big, sizeof big, 0, 1); /* 5 x 16 KiB: 81920 bytes, more than 65550 + 12 */
  for (int i = 0; i < 4; i++) tx_add_buf(big, sizeof big, 0, i < 3);
  tx_chain(head);
  n = build_frame(txbuf[3], "tx-writable");
  head = tx_add_buf(txbuf[3], n, 0, 1); /* a device-writable buffer after the frame */
  tx_add_buf(txbuf[4], 32, DESC_WRITE, 0);
  tx_chain(head);
  n = build_frame(txbuf[5], "tx-bad-address");
  head = tx_add_buf(txbuf[5], HDR, 0, 1); /* the frame outside guest RAM (256 MiB) */
  tx_add(0xbfff0000ull, n - HDR, 0, 0);
  tx_chain(head);
  tx_submit_wait(E_TX_BAD);

  tx_send(E_TX_AFTER_BAD, "tx-after-bad");
  puts_("tx: tx-one, tx-split sent; 5 malformed chains returned unsent; tx-after-bad sent\n");
}

static u8 pat_big(u32 i) { return (u8)(i * 7 + 3); }
static u8 pat_mrg(u32 i) { return (u8)(i * 13 + 5); }

/* Without MRG_RXBUF a frame larger than a buffer is dropped, and only it. */
static void big_frames(void) {
  rx_post(2);
  tx_send(E_BIG, "cmd:big");
  u32 len;
  u8 *p = rx_take(&len);
  if (len != HDR + 1514 || !addressed_to_us(p + HDR)) {
    show_frame(p, len);
    fail(E_BIG, "the 1514-byte frame did not arrive whole");
  }
  expect_rx_header(p, 1);
  for (u32 i = ETH; i < 1514; i++)
    if (p[HDR + i] != pat_big(i)) fail(E_BIG, "the 1514-byte frame's payload is wrong");
  rx_expect(E_SMALL_AFTER_BIG, "small-after-big"); /* the 3000-byte frame is dropped */
  puts_("rx: 1514-byte frame ok, 3000-byte frame dropped (no MRG_RXBUF), small-after-big ok\n");
}

/* A TX descriptor whose next is itself: DEVICE_NEEDS_RESET, no hang; a reset recovers. */
static void descriptor_loop(void) {
  u16 tx_before = used_idx(&txq);
  tx_begin();
  int head = tx_add_buf(txbuf[0], 64, 0, 1);
  txq.desc[head].next = (u16)head;
  tx_chain(head);
  publish(&txq, 1);
  u64 start = rdtsc();
  while (!(rd32(nic, R_STATUS) & S_NEEDS_RESET))
    if (rdtsc() - start > TIMEOUT) fail(E_LOOP, "a TX descriptor loop did not set DEVICE_NEEDS_RESET");
  if (!(rd32(nic, R_INT_STATUS) & INT_CONFIG)) fail(E_LOOP_IRQ, "DEVICE_NEEDS_RESET without the configuration-change interrupt bit");
  if (used_idx(&txq) != tx_before) fail(E_LOOP_USED, "the looping chain came back in the used ring");
  init_device(1);
  if (rd32(nic, R_INT_STATUS) != 0) fail(E_LOOP_RESET, "interrupt status not cleared by the reset");
  puts_("tx: descriptor loop sets DEVICE_NEEDS_RESET; reset, re-initialised with MRG_RXBUF\n");
}

/* With MRG_RXBUF a 3000-byte frame fills three 1 KiB buffers. */
static void mergeable(void) {
  rx_size = 1024;
  rx_post(6);
  tx_send(E_MRG, "cmd:mrg");
  static const u32 want[3] = {1024, 1024, HDR + 3000 - 2048};
  u8 frame[3000];
  u32 got = 0;
  for (int k = 0; k < 3; k++) {
    u32 len;
    u8 *p = rx_take(&len);
    if (len != want[k]) {
      puts_("buffer ");
      putdec((u64)k);
      puts_(": used.len ");
      putdec(len);
      putc_('\n');
      fail(E_MRG_LEN, "a 3000-byte frame is not in 1024 + 1024 + 964 bytes");
    }
    if (k == 0) {
      expect_rx_header(p, 3);
      p += HDR;
      len -= HDR;
    }
    memcpy(frame + got, p, len);
    got += len;
  }
  if (!addressed_to_us(frame)) fail(E_MRG_DATA, "the merged frame's Ethernet header is wrong");
  for (u32 i = ETH; i < 3000; i++)
    if (frame[i] != pat_mrg(i)) fail(E_MRG_DATA, "the merged frame's payload is wrong");
  expect_quiet(&rxq, 100, E_MRG_LEN, "a buffer was used past the merged frame");
  puts_("mrg: 3000-byte frame in 3 buffers (1024 + 1024 + 964), num_buffers 3, pattern ok\n");
}

/* "burst-N": N, or -1 for any other frame. */
static int burst_number(const u8 *p, u32 len) {
  const char *pre = "burst-";
  if (len <= HDR + ETH + 6 || len > HDR + ETH + 8 || !addressed_to_us(p + HDR)) return -1;
  for (int i = 0; i < 6; i++)
    if (p[HDR + ETH + i] != (u8)pre[i]) return -1;
  int n = 0;
  for (u32 i = HDR + ETH + 6; i < len; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    n = n * 10 + (p[i] - '0');
  }
  return n;
}

/* A reset with frames coming in and going out: the device writes nothing
 * into the old buffers once status reads 0; afterwards what is left of the
 * burst arrives in order, once, before the answer to a ping. */
static void reset_in_flight(void) {
  rx_post(4);
  tx_send(E_RIF_STATUS, "cmd:burst");
  tx_begin();
  for (int k = 0; k < 8; k++) {
    char name[] = "inflight-0";
    name[9] = (char)('0' + k);
    tx_chain(tx_add_buf(txbuf[k], build_frame(txbuf[k], name), 0, 0));
  }
  publish(&txq, tx_pending);
  wr32(nic, R_STATUS, 0);
  u64 start = rdtsc();
  while (rd32(nic, R_STATUS) != 0)
    if (rdtsc() - start > TIMEOUT) fail(E_RIF_STATUS, "status does not read 0 after a reset");

  /* what arrived before the reset is the burst's beginning */
  u16 rx_at_reset = used_idx(&rxq), tx_at_reset = used_idx(&txq);
  int before = (u16)(rx_at_reset - rxq.used_seen);
  for (int k = 0; k < before; k++) {
    u32 len;
    u8 *p = rx_take(&len);
    expect_rx_header(p, 1);
    if (burst_number(p, len) != k) {
      show_frame(p, len);
      fail(E_RIF_BEFORE, "a frame received before the reset is not the next of the burst");
    }
  }
  memset(rxbuf, 0xee, sizeof rxbuf);
  barrier();
  spin(MS(200));
  barrier();
  for (u32 i = 0; i < sizeof rxbuf; i++)
    if (((volatile u8 *)rxbuf)[i] != 0xee) fail(E_RIF_WRITTEN, "a receive buffer was written after the reset");
  if (used_idx(&rxq) != rx_at_reset || used_idx(&txq) != tx_at_reset) fail(E_RIF_USED, "a used ring changed after the reset");

  init_device(1);
  rx_size = 1024;
  rx_post(8);
  tx_send(E_RIF_PONG, "cmd:ping");
  int after = 0, last = before - 1;
  for (;;) {
    if (after > 50) fail(E_RIF_AFTER, "more frames than the burst had before the pong");
    u32 len;
    u8 *p = rx_take(&len);
    expect_rx_header(p, 1);
    if (is_frame(p, len, "pong")) break;
    int n = burst_number(p, len);
    if (n < 0 || n <= last || (after > 0 && n != last + 1)) {
      show_frame(p, len);
      fail(E_RIF_AFTER, "a frame after the reset is not the next of the burst");
    }
    last = n;
    after++;
    rx_post(1);
  }
  if (after > 0 && last != 49) fail(E_RIF_AFTER, "the burst's end did not arrive before the pong");
  puts_("reset with frames in flight: no buffer written after it, the rest of the burst in order before pong\n");
  puts_("burst: ");
  putdec((u64)before);
  puts_(" frames before the reset, ");
  putdec((u64)after);
  puts_(" after\n");
}

/* A length word beyond the largest frame: the link goes down, the VMM keeps running. */
static void oversized_from_peer(void) {
  rx_post(1);
  u32 gen = rd32(nic, R_CONFIG_GEN);
  tx_send(E_LINK, "cmd:oversize");
  u64 start = rdtsc();
  while (link_status() & LINK_UP)
    if (rdtsc() - start > TIMEOUT) fail(E_LINK, "the link stayed up after the peer sent an oversized length");
  if (!(rd32(nic, R_INT_STATUS) & INT_CONFIG)) fail(E_LINK_IRQ, "link down without the configuration-change interrupt bit");
  if (rd32(nic, R_CONFIG_GEN) == gen) fail(E_LINK_GEN, "link down without a new config generation");
  puts_("link down after an oversized length from the peer (config change interrupt)\n");
}

int main(void) {
  puts_("virtio-net guest\n");
  int slot = find_nic();
  init_device(0);
  puts_("net: slot ");
  putdec((u64)slot);
  puts_(", mac ");
  for (int i = 0; i < 6; i++) {
    if (i) putc_(':');
    puthex2(mac[i]);
  }
  puts_(", link up\n");
  early_frames();
  transmit();
  big_frames();
  descriptor_loop();
  mergeable();
  reset_in_flight();
  oversized_from_peer();
  puts_("virtio-net ok\n");
  return 0;
}
