/*
 * A tiny 64-bit guest that drives virtio-blk devices directly over the
 * virtio-mmio transport (version 2), with no Linux in between. Entered
 * through the Linux 64-bit boot protocol (long mode, first 4 GiB
 * identity-mapped, interrupts off); prints to COM1 and ends with a status
 * written to the exit device (port 0x501): 0 when every check passed, a
 * distinct non-zero code for the first check that failed.
 *
 * Disk 0 (slot 0, 0xd0000000) must hold the pattern byte i of sector s =
 * (s*31 + i) & 0xff and be writable, with serial TINY123; the guest writes
 * sectors 2 and 3 (patterns below) and the host checks them afterwards.
 * Disk 1 (slot 1), if present, must be read-only with byte i of sector s =
 * (s*7 + i*3 + 1) & 0xff. Slot 2 must hold no virtio-blk device (other
 * kinds, such as the default machine's entropy device, are left alone).
 *
 * Interrupts stay off: completion is found by polling used.idx (bounded by
 * the TSC), and the interrupt status register is checked by hand.
 *
 * Built by ../build.sh (gcc, freestanding) into ../bin/long-virtio-blk.elf.
 */
#include "virtio-blk.h"

/* ---- entry: own stack, clear .bss, main(), exit with its status ---- */

__asm__(".section .bss\n"
        ".balign 16\n"
        "stack: .skip 16384\n"
        "stack_top:\n"
        ".text\n"
        ".globl _start\n"
        "_start:\n"
        CLEAR_BSS_AND_RUN_MAIN);

/* ---- failures ---- */

/* Failure codes: one per check, so the exit status alone says what broke. */
enum {
  E_SLOT0 = 10, E_SLOT2, E_FEAT_REFUSE, E_FEATURES, E_QUEUE, E_TIMEOUT, E_USED, E_IRQ,
  E_READ01 = 20, E_SPLIT_HDR, E_WRITE2, E_FLUSH, E_READBACK2, E_WRITE3, E_READBACK3, E_GETID, E_BATCH, E_LAST,
  E_RO = 30, E_RO_READ, E_RO_WRITE, E_RO_FLUSH,
  E_BAD_LEN = 40, E_BAD_PAST_END, E_BAD_STRADDLE, E_BAD_TYPE, E_BAD_AFTER, E_RESET, E_BAD_ADDR, E_BAD_NOTIFY,
  E_CONFIG = 50, E_MULTI, E_RESET_IN_FLIGHT,
};

/* TSC ticks, taking ~3 GHz (~25 s): a nested L1 that froze is woken after up to ~15 s, and its guests' TSC ran on meanwhile. */
#define TIMEOUT 75000000000ull

/* ---- the devices' windows (virtio-blk.h, virtio-mmio.h have the rest) ---- */

#define MMIO_BASE 0xd0000000ull
#define SLOT_SIZE 0x1000

enum { F_BLK_SIZE = 6, F_RO = 5, F_FLUSH = 9 };

/* ---- split virtqueue ---- */

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

struct dev {
  u64 base;
  const char *name;
  u64 features; /* negotiated */
  u64 capacity;
  struct desc *desc;
  struct avail *avail;
  struct used *used;
  u16 avail_idx;  /* next avail.idx to publish */
  u16 used_seen;  /* used.idx consumed so far */
  int ndesc;      /* descriptors handed out in this batch */
  int pending;    /* chains made available in this batch */
  struct used_elem done[QN];
};

static struct desc desc0[QN] __attribute__((aligned(16)));
static struct avail avail0 __attribute__((aligned(4)));
static struct used used0 __attribute__((aligned(8)));
static struct desc desc1[QN] __attribute__((aligned(16)));
static struct avail avail1 __attribute__((aligned(4)));
static struct used used1 __attribute__((aligned(8)));
static struct dev disk0 = {MMIO_BASE, "disk 0", 0, 0, desc0, &avail0, &used0, 0, 0, 0, 0, {{0, 0}}};
static struct dev disk1 = {MMIO_BASE + SLOT_SIZE, "disk 1", 0, 0, desc1, &avail1, &used1, 0, 0, 0, 0, {{0, 0}}};

/* request headers and status bytes, one per request of a batch */
static struct hdr hdrs[QN] __attribute__((aligned(16)));
static volatile u8 stat[QN];

static u8 buf[8][1024] __attribute__((aligned(4096)));
static u8 odd[8192] __attribute__((aligned(4096)));

static void batch_begin(struct dev *d) {
  d->ndesc = 0;
  d->pending = 0;
}

/* Appends one descriptor to the chain being built; returns its index. */
static int add_desc(struct dev *d, const volatile void *addr, u32 len, u16 flags, int chained) {
  int i = d->ndesc++;
  if (i >= QN) fail(E_QUEUE, "out of descriptors");
  d->desc[i].addr = (u64)(unsigned long)addr;
  d->desc[i].len = len;
  d->desc[i].flags = (u16)(flags | (chained ? DESC_NEXT : 0));
  d->desc[i].next = (u16)(i + 1);
  return i;
}

static void make_available(struct dev *d, int head) {
  d->avail->ring[(u16)(d->avail_idx + d->pending) % QN] = (u16)head;
  d->pending++;
}

/* Publishes the batch, notifies, and waits for every chain of it to come back. */
static void submit_wait(struct dev *d) {
  int n = d->pending;
  barrier(); /* descriptors and ring entries before the index (x86: stores stay in order) */
  d->avail_idx = (u16)(d->avail_idx + n);
  *(volatile u16 *)&d->avail->idx = d->avail_idx;
  __asm__ volatile("mfence" : : : "memory");
  wr32(d->base, R_QUEUE_NOTIFY, 0);
  u16 want = (u16)(d->used_seen + n);
  u64 start = rdtsc();
  while (*(volatile u16 *)&d->used->idx != want) {
    u16 now = *(volatile u16 *)&d->used->idx;
    if ((u16)(now - d->used_seen) > n) fail(E_USED, "used.idx moved past the requests made available");
    if (rdtsc() - start > TIMEOUT) {
      puts_(d->name);
      puts_(": used.idx ");
      putdec(now);
      puts_(", waiting for ");
      putdec(want);
      puts_(", device status ");
      puthex(rd32(d->base, R_STATUS));
      putc_('\n');
      fail(E_TIMEOUT, "timed out waiting for the device");
    }
    __asm__ volatile("pause");
  }
  barrier();
  for (int i = 0; i < n; i++) d->done[i] = ((volatile struct used *)d->used)->ring[(u16)(d->used_seen + i) % QN];
  d->used_seen = want;
  /* no NO_INTERRUPT flag, no EVENT_IDX: the device must have raised the used-buffer interrupt */
  u32 isr = rd32(d->base, R_INT_STATUS);
  if (!(isr & 1)) {
    puts_("interrupt status ");
    puthex(isr);
    putc_('\n');
    fail(E_IRQ, "used buffers returned without the used-buffer interrupt status bit");
  }
  wr32(d->base, R_INT_ACK, isr);
  if (rd32(d->base, R_INT_STATUS) & 1) fail(E_IRQ, "InterruptACK did not clear the used-buffer bit");
}

/* The used element for the chain starting at `head` in the last batch. */
static struct used_elem *completion(struct dev *d, int head, int n) {
  for (int i = 0; i < n; i++)
    if (d->done[i].id == (u32)head) return &d->done[i];
  fail(E_USED, "a chain did not come back in the used ring");
  return 0;
}

/* One request: header, data buffers (nseg pieces), status; returns the status byte. */
static u8 request(struct dev *d, u32 type, u64 sector, int nseg, void *const *data, const u32 *len, int write_data, u32 *used_len) {
  batch_begin(d);
  hdrs[0].type = type;
  hdrs[0].reserved = 0;
  hdrs[0].sector = sector;
  stat[0] = 0xee;
  int head = add_desc(d, &hdrs[0], sizeof hdrs[0], 0, 1);
  for (int i = 0; i < nseg; i++) add_desc(d, data[i], len[i], write_data ? DESC_WRITE : 0, 1);
  add_desc(d, &stat[0], 1, DESC_WRITE, 0);
  make_available(d, head);
  submit_wait(d);
  struct used_elem *e = completion(d, head, 1);
  if (used_len) *used_len = e->len;
  return stat[0];
}

static u8 read1(struct dev *d, u64 sector, void *dst, u32 len) {
  void *p[1] = {dst};
  u32 l[1] = {len};
  return request(d, T_IN, sector, 1, p, l, 1, 0);
}
static u8 write1(struct dev *d, u64 sector, void *src, u32 len) {
  void *p[1] = {src};
  u32 l[1] = {len};
  return request(d, T_OUT, sector, 1, p, l, 0, 0);
}

/* ---- data patterns ---- */

static u8 pat0(u64 s, u32 i) { return (u8)(s * 31 + i); }
static u8 pat1(u64 s, u32 i) { return (u8)(s * 7 + i * 3 + 1); }
static u8 pat_w2(u32 i) { return (u8)((i * 13) ^ 0xa5); }
static u8 pat_w3(u32 i) { return (u8)(255 - i * 3); }

static void poison(void *p, u32 n) { memset(p, 0xcc, n); }

/* First mismatching byte of sector s in p (n sectors), or -1. */
static long check_disk0(const u8 *p, u64 s, u32 n) {
  for (u32 k = 0; k < n; k++)
    for (u32 i = 0; i < 512; i++)
      if (p[k * 512 + i] != pat0(s + k, i)) return (long)(k * 512 + i);
  return -1;
}

static void mismatch(int code, const char *what, const u8 *p, long at, u8 want) {
  puts_(what);
  puts_(": byte ");
  putdec((u64)at);
  puts_(" is ");
  puthex(p[at]);
  puts_(", expected ");
  puthex(want);
  putc_('\n');
  fail(code, what);
}

static void expect_status(int code, const char *what, u8 got, u8 want) {
  if (got == want) return;
  puts_(what);
  puts_(": status ");
  puthex(got);
  puts_(", expected ");
  puthex(want);
  putc_('\n');
  fail(code, what);
}

/* Reads disk0 sector `s` into buf[0] and checks that it holds its pattern:
 * the device still serves I/O correctly (after abuse, after a reset). */
static void expect_disk0_sector(int code, const char *read_what, const char *data_what, u64 s) {
  poison(buf[0], 512);
  expect_status(code, read_what, read1(&disk0, s, buf[0], 512), BLK_OK);
  long at = check_disk0(buf[0], s, 1);
  if (at >= 0) mismatch(code, data_what, buf[0], at, pat0(s, (u32)at));
}

/* ---- device set-up ---- */

/* A virtio-blk device (ID 2) in the slot; other kinds (the machine's entropy device) do not count. */
static int present(u64 base) {
  u32 magic = rd32(base, R_MAGIC);
  return magic == MAGIC && rd32(base, R_DEVICE_ID) == VIRTIO_ID_BLOCK;
}

static u64 device_features(u64 base) {
  wr32(base, R_DEV_FEAT_SEL, 1);
  u64 f = (u64)rd32(base, R_DEV_FEAT) << 32;
  wr32(base, R_DEV_FEAT_SEL, 0);
  return f | rd32(base, R_DEV_FEAT);
}

static void set_driver_features(u64 base, u64 f) {
  wr32(base, R_DRV_FEAT_SEL, 0);
  wr32(base, R_DRV_FEAT, (u32)f);
  wr32(base, R_DRV_FEAT_SEL, 1);
  wr32(base, R_DRV_FEAT, (u32)(f >> 32));
}

/* Status ACK|DRIVER, offer `f`, FEATURES_OK; returns whether the device kept FEATURES_OK. */
static int negotiate(u64 base, u64 f) {
  wr32(base, R_STATUS, 0);
  if (rd32(base, R_STATUS) != 0) fail(E_FEATURES, "status does not read 0 after reset");
  wr32(base, R_STATUS, S_ACK);
  wr32(base, R_STATUS, S_ACK | S_DRIVER);
  set_driver_features(base, f);
  wr32(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  return (rd32(base, R_STATUS) & S_FEATURES_OK) != 0;
}

static void init_device(struct dev *d, int expect_ro, int announce) {
  u64 b = d->base;
  if (rd32(b, R_MAGIC) != MAGIC) fail(E_SLOT0, "bad magic");
  if (rd32(b, R_VERSION) != 2) fail(E_SLOT0, "not a version 2 (modern) virtio-mmio device");
  if (rd32(b, R_DEVICE_ID) != 2) fail(E_SLOT0, "not a block device");
  u64 offered = device_features(b);
  if (!(offered & (1ull << F_VERSION_1))) fail(E_FEATURES, "VIRTIO_F_VERSION_1 not offered");
  if (!(offered & (1ull << F_FLUSH))) fail(E_FEATURES, "VIRTIO_BLK_F_FLUSH not offered");
  if (!!(offered & (1ull << F_RO)) != expect_ro) fail(E_RO, expect_ro ? "VIRTIO_BLK_F_RO not offered" : "VIRTIO_BLK_F_RO offered");

  /* The device must refuse feature sets it cannot accept. */
  if (negotiate(b, 1ull << F_FLUSH)) fail(E_FEAT_REFUSE, "FEATURES_OK accepted without VIRTIO_F_VERSION_1");
  u64 unoffered = 0;
  for (int bit = 0; bit < 24; bit++)
    if (!(offered & (1ull << bit))) {
      unoffered = 1ull << bit;
      break;
    }
  if (unoffered && negotiate(b, (1ull << F_VERSION_1) | unoffered)) fail(E_FEAT_REFUSE, "FEATURES_OK accepted with a feature never offered");

  u64 want = (1ull << F_VERSION_1) | (1ull << F_FLUSH) | (offered & ((1ull << F_RO) | (1ull << F_BLK_SIZE)));
  if (!negotiate(b, want)) fail(E_FEATURES, "FEATURES_OK refused for VERSION_1|FLUSH(|RO|BLK_SIZE)");
  d->features = want;

  /* config: capacity as one 64-bit read and as two 32-bit halves (generation-checked) */
  u32 gen, lo, hi;
  do {
    gen = rd32(b, R_CONFIG_GEN);
    lo = rd32(b, R_CONFIG + 0);
    hi = rd32(b, R_CONFIG + 4);
  } while (rd32(b, R_CONFIG_GEN) != gen);
  d->capacity = ((u64)hi << 32) | lo;
  if (rd64(b, R_CONFIG) != d->capacity) fail(E_SLOT0, "64-bit and 32-bit reads of capacity differ");
  if (rd8(b, R_CONFIG) != (u8)d->capacity || rd16(b, R_CONFIG) != (u16)d->capacity || rd8(b, R_CONFIG + 1) != (u8)(d->capacity >> 8))
    fail(E_CONFIG, "8/16-bit reads of capacity disagree with the 32-bit ones");
  wr32(b, R_CONFIG, 7); /* capacity is read-only */
  if (rd64(b, R_CONFIG) != d->capacity) fail(E_CONFIG, "a config write changed capacity");
  wr32(b, R_MAGIC, 0); /* a read-only register */
  if (rd32(b, R_MAGIC) != MAGIC) fail(E_CONFIG, "a write to MagicValue changed it");
  u32 blk_size = (want & (1ull << F_BLK_SIZE)) ? rd32(b, R_CONFIG + 20) : 512;
  if (blk_size < 512 || (blk_size & (blk_size - 1))) fail(E_SLOT0, "blk_size is not a power of two >= 512");

  /* queue 0 (the only one: no VIRTIO_BLK_F_MQ) */
  wr32(b, R_QUEUE_SEL, 1);
  if (rd32(b, R_QUEUE_NUM_MAX) != 0) fail(E_QUEUE, "queue 1 exists without VIRTIO_BLK_F_MQ");
  wr32(b, R_QUEUE_SEL, 0);
  u32 max = rd32(b, R_QUEUE_NUM_MAX);
  if (max < QN) fail(E_QUEUE, "QueueNumMax smaller than 16");
  if (rd32(b, R_QUEUE_READY) != 0) fail(E_QUEUE, "queue ready before set-up");
  memset(d->desc, 0, sizeof(struct desc) * QN);
  memset(d->avail, 0, sizeof *d->avail);
  memset(d->used, 0, sizeof *d->used);
  d->avail_idx = d->used_seen = 0;
  wr32(b, R_QUEUE_NUM, QN);
  wr32(b, R_DESC_LO, (u32)(unsigned long)d->desc);
  wr32(b, R_DESC_HI, 0);
  wr32(b, R_DRIVER_LO, (u32)(unsigned long)d->avail);
  wr32(b, R_DRIVER_HI, 0);
  wr32(b, R_DEVICE_LO, (u32)(unsigned long)d->used);
  wr32(b, R_DEVICE_HI, 0);
  wr32(b, R_QUEUE_READY, 1);
  if (rd32(b, R_QUEUE_READY) != 1) fail(E_QUEUE, "QueueReady does not read back 1");
  if (rd32(b, R_DESC_LO) != (u32)(unsigned long)d->desc) fail(E_QUEUE, "QueueDescLow does not read back");
  wr32(b, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  if (rd32(b, R_STATUS) != (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)) fail(E_QUEUE, "status is not DRIVER_OK after set-up");

  if (!announce) return;
  puts_(d->name);
  puts_(": virtio-blk, capacity ");
  putdec(d->capacity);
  puts_(" sectors");
  if (expect_ro) puts_(", read-only");
  putc_('\n');
}

/* ---- the checks ---- */

static void disk0_checks(void) {
  struct dev *d = &disk0;
  u32 ulen;

  /* 1. sectors 0 and 1 in one request with two data descriptors */
  poison(buf[0], 1024);
  {
    void *p[2] = {buf[0], buf[0] + 512};
    u32 l[2] = {512, 512};
    expect_status(E_READ01, "read of sectors 0-1 (two data descriptors)", request(d, T_IN, 0, 2, p, l, 1, &ulen), BLK_OK);
  }
  long at = check_disk0(buf[0], 0, 2);
  if (at >= 0) mismatch(E_READ01, "sectors 0-1 do not hold the pattern", buf[0], at, pat0((u64)at / 512, (u32)at % 512));
  if (ulen != 1025) {
    puts_("used.len ");
    putdec(ulen);
    putc_('\n');
    fail(E_READ01, "used.len of a 1024-byte read is not 1025 (data + status)");
  }
  puts_("read sectors 0-1: pattern ok\n");

  /* 2. no framing assumptions: header split 8+8, data and status in one descriptor */
  poison(buf[1], 513);
  batch_begin(d);
  hdrs[0].type = T_IN;
  hdrs[0].reserved = 0;
  hdrs[0].sector = 5;
  int head = add_desc(d, &hdrs[0], 8, 0, 1);
  add_desc(d, (u8 *)&hdrs[0] + 8, 8, 0, 1);
  add_desc(d, buf[1], 513, DESC_WRITE, 0);
  make_available(d, head);
  submit_wait(d);
  completion(d, head, 1);
  expect_status(E_SPLIT_HDR, "read with a split header and the status byte after the data", buf[1][512], BLK_OK);
  at = check_disk0(buf[1], 5, 1);
  if (at >= 0) mismatch(E_SPLIT_HDR, "sector 5 (split header) does not hold the pattern", buf[1], at, pat0(5, (u32)at));

  /* 3. write sector 2, flush, read it back */
  for (u32 i = 0; i < 512; i++) buf[2][i] = pat_w2(i);
  expect_status(E_WRITE2, "write of sector 2", write1(d, 2, buf[2], 512), BLK_OK);
  expect_status(E_FLUSH, "flush", request(d, T_FLUSH, 0, 0, 0, 0, 0, 0), BLK_OK);
  poison(buf[3], 512);
  expect_status(E_READBACK2, "read-back of sector 2", read1(d, 2, buf[3], 512), BLK_OK);
  for (u32 i = 0; i < 512; i++)
    if (buf[3][i] != pat_w2(i)) mismatch(E_READBACK2, "sector 2 read back differs from what was written", buf[3], i, pat_w2(i));
  puts_("write, flush, read-back of sector 2: ok\n");

  /* 4. write sector 3 from two uneven pieces (100 + 412 bytes), read back whole */
  for (u32 i = 0; i < 512; i++) buf[4][i] = pat_w3(i);
  {
    void *p[2] = {buf[4], buf[4] + 100};
    u32 l[2] = {100, 412};
    expect_status(E_WRITE3, "write of sector 3 from 100+412-byte pieces", request(d, T_OUT, 3, 2, p, l, 0, 0), BLK_OK);
  }
  expect_status(E_FLUSH, "second flush", request(d, T_FLUSH, 0, 0, 0, 0, 0, 0), BLK_OK);
  poison(buf[3], 512);
  expect_status(E_READBACK3, "read-back of sector 3", read1(d, 3, buf[3], 512), BLK_OK);
  for (u32 i = 0; i < 512; i++)
    if (buf[3][i] != pat_w3(i)) mismatch(E_READBACK3, "sector 3 read back differs from what was written", buf[3], i, pat_w3(i));

  /* 5. GET_ID */
  static u8 id[21];
  memset(id, 0xcc, sizeof id);
  {
    void *p[1] = {id};
    u32 l[1] = {20};
    expect_status(E_GETID, "GET_ID", request(d, T_GET_ID, 0, 1, p, l, 1, 0), BLK_OK);
  }
  id[20] = 0;
  puts_("serial: ");
  puts_((const char *)id);
  putc_('\n');
  for (int i = 0; id[i]; i++)
    if (id[i] == 0xcc) fail(E_GETID, "GET_ID left bytes unwritten");

  /* 6. four reads in flight at once (sectors 8..11), completions matched by id */
  batch_begin(d);
  int heads[4];
  for (int k = 0; k < 4; k++) {
    hdrs[k].type = T_IN;
    hdrs[k].reserved = 0;
    hdrs[k].sector = 8 + (u64)k;
    stat[k] = 0xee;
    poison(buf[4 + k], 512);
    heads[k] = add_desc(d, &hdrs[k], 16, 0, 1);
    add_desc(d, buf[4 + k], 512, DESC_WRITE, 1);
    add_desc(d, &stat[k], 1, DESC_WRITE, 0);
    make_available(d, heads[k]);
  }
  submit_wait(d);
  for (int k = 0; k < 4; k++) {
    completion(d, heads[k], 4);
    expect_status(E_BATCH, "one of four reads in flight", stat[k], BLK_OK);
    at = check_disk0(buf[4 + k], 8 + (u64)k, 1);
    if (at >= 0) mismatch(E_BATCH, "a read of four in flight returned the wrong data", buf[4 + k], at, pat0(8 + (u64)k, (u32)at));
  }
  puts_("four requests in flight: ok\n");


  /* 7. sixteen sectors (20..35) through eight 1 KiB data descriptors in one request */
  {
    void *p[8];
    u32 l[8];
    for (int k = 0; k < 8; k++) {
      poison(buf[k], 1024);
      p[k] = buf[7 - k]; /* buffers in descending address order */
      l[k] = 1024;
    }
    expect_status(E_MULTI, "read of 16 sectors through 8 descriptors", request(d, T_IN, 20, 8, p, l, 1, &ulen), BLK_OK);
    for (int k = 0; k < 8; k++) {
      at = check_disk0(buf[7 - k], 20 + 2 * (u64)k, 2);
      if (at >= 0) mismatch(E_MULTI, "a 16-sector read through 8 descriptors", buf[7 - k], at, pat0(20 + 2 * (u64)k + (u64)at / 512, (u32)at % 512));
    }
    if (ulen != 8193) fail(E_MULTI, "used.len of an 8 KiB read is not 8193");
  }

  /* 7b. 4 KiB into a buffer at an odd address (cache=none must bounce or realign it) */
  poison(odd, sizeof odd);
  expect_status(E_MULTI, "read of 8 sectors into an odd address", read1(d, 40, odd + 3, 4096), BLK_OK);
  at = check_disk0(odd + 3, 40, 8);
  if (at >= 0) mismatch(E_MULTI, "8 sectors read into an odd address", odd + 3, at, pat0(40 + (u64)at / 512, (u32)at % 512));
  if (odd[2] != 0xcc || odd[4099] != 0xcc) fail(E_MULTI, "a read into an odd address wrote outside its buffer");

  /* 8. the last sector reads; one past it does not */
  poison(buf[0], 512);
  expect_status(E_LAST, "read of the last sector", read1(d, d->capacity - 1, buf[0], 512), BLK_OK);
  at = check_disk0(buf[0], d->capacity - 1, 1);
  if (at >= 0) mismatch(E_LAST, "the last sector does not hold the pattern", buf[0], at, pat0(d->capacity - 1, (u32)at));

  /* 9. malformed requests get an error status, and the device keeps working */
  expect_status(E_BAD_LEN, "read of 500 bytes (not a multiple of 512)", read1(d, 0, buf[0], 500), BLK_IOERR);
  expect_status(E_BAD_PAST_END, "read at sector == capacity", read1(d, d->capacity, buf[0], 512), BLK_IOERR);
  expect_status(E_BAD_PAST_END, "read at sector 2^63", read1(d, 1ull << 63, buf[0], 512), BLK_IOERR);
  expect_status(E_BAD_STRADDLE, "read of 2 sectors from the last one", read1(d, d->capacity - 1, buf[0], 1024), BLK_IOERR);
  expect_status(E_BAD_STRADDLE, "write of 2 sectors from the last one", write1(d, d->capacity - 1, buf[2], 1024), BLK_IOERR);
  expect_status(E_BAD_TYPE, "request of unknown type 0x99", request(d, 0x99, 0, 0, 0, 0, 0, 0), BLK_UNSUPP);
  /* data buffer outside guest RAM (256 MiB machine): an error status, not a crash */
  expect_status(E_BAD_ADDR, "read into memory that is not guest RAM", read1(d, 0, (void *)0xbfff0000ul, 512), BLK_IOERR);
  /* a notification for a queue that does not exist is ignored */
  wr32(d->base, R_QUEUE_NOTIFY, 5);
  if (rd32(d->base, R_STATUS) & S_NEEDS_RESET) fail(E_BAD_NOTIFY, "QueueNotify for queue 5 broke the device");
  expect_disk0_sector(E_BAD_AFTER, "read after the malformed requests", "sector 1 after the malformed requests", 1);
  puts_("malformed requests refused, device still works\n");
}

static void disk1_checks(void) {
  struct dev *d = &disk1;
  poison(buf[0], 512);
  expect_status(E_RO_READ, "read of the read-only disk", read1(d, 1, buf[0], 512), BLK_OK);
  for (u32 i = 0; i < 512; i++)
    if (buf[0][i] != pat1(1, i)) mismatch(E_RO_READ, "read-only disk sector 1 does not hold its pattern", buf[0], i, pat1(1, i));
  for (u32 i = 0; i < 512; i++) buf[1][i] = 0x77;
  expect_status(E_RO_WRITE, "write to the read-only disk", write1(d, 1, buf[1], 512), BLK_IOERR);
  expect_status(E_RO_FLUSH, "flush of the read-only disk", request(d, T_FLUSH, 0, 0, 0, 0, 0, 0), BLK_OK);
  poison(buf[0], 512);
  expect_status(E_RO_READ, "read of the read-only disk after the refused write", read1(d, 1, buf[0], 512), BLK_OK);
  for (u32 i = 0; i < 512; i++)
    if (buf[0][i] != pat1(1, i)) mismatch(E_RO_READ, "the refused write changed the read-only disk", buf[0], i, pat1(1, i));
  puts_("read-only disk refuses writes\n");
}

/* A chain with no device-writable byte cannot be answered: the device must
 * set DEVICE_NEEDS_RESET (and not hang or crash), and work again after a reset. */
static void reset_check(void) {
  struct dev *d = &disk0;
  batch_begin(d);
  hdrs[0].type = T_IN;
  hdrs[0].reserved = 0;
  hdrs[0].sector = 0;
  int head = add_desc(d, &hdrs[0], 16, 0, 0);
  make_available(d, head);
  d->avail_idx = (u16)(d->avail_idx + 1);
  barrier();
  *(volatile u16 *)&d->avail->idx = d->avail_idx;
  __asm__ volatile("mfence" : : : "memory");
  wr32(d->base, R_QUEUE_NOTIFY, 0);
  u64 start = rdtsc();
  while (!(rd32(d->base, R_STATUS) & S_NEEDS_RESET))
    if (rdtsc() - start > TIMEOUT) fail(E_RESET, "a request without a status byte did not set DEVICE_NEEDS_RESET");
  if (!(rd32(d->base, R_INT_STATUS) & 2)) fail(E_RESET, "DEVICE_NEEDS_RESET without the configuration-change interrupt bit");
  init_device(d, 0, 0);
  expect_disk0_sector(E_RESET, "read after the device reset", "sector 4 after the device reset", 4);
  puts_("DEVICE_NEEDS_RESET on a chain without status, reset recovers\n");
}

/* A reset (status 0, read back as 0) with requests in flight: once the driver
 * sees status 0, the device must no longer write guest memory (data, status
 * bytes, used ring) for them; afterwards it works as new. */
static void reset_in_flight_check(void) {
  struct dev *d = &disk0;
  batch_begin(d);
  for (int k = 0; k < 5; k++) {
    hdrs[k].type = k == 4 ? T_FLUSH : T_IN;
    hdrs[k].reserved = 0;
    hdrs[k].sector = k == 4 ? 0 : 100 + 2 * (u64)k;
    stat[k] = 0xee;
    int head = add_desc(d, &hdrs[k], 16, 0, 1);
    if (k < 4) add_desc(d, buf[k], 1024, DESC_WRITE, 1);
    add_desc(d, &stat[k], 1, DESC_WRITE, 0);
    make_available(d, head);
  }
  barrier();
  d->avail_idx = (u16)(d->avail_idx + d->pending);
  *(volatile u16 *)&d->avail->idx = d->avail_idx;
  __asm__ volatile("mfence" : : : "memory");
  wr32(d->base, R_QUEUE_NOTIFY, 0);
  wr32(d->base, R_STATUS, 0);
  u64 start = rdtsc();
  while (rd32(d->base, R_STATUS) != 0)
    if (rdtsc() - start > TIMEOUT) fail(E_RESET_IN_FLIGHT, "status does not read 0 after a reset");
  u16 used_idx = *(volatile u16 *)&d->used->idx;
  for (int k = 0; k < 5; k++) {
    if (k < 4) poison(buf[k], 1024);
    stat[k] = 0xdd;
  }
  barrier();
  start = rdtsc();
  while (rdtsc() - start < 300000000ull) __asm__ volatile("pause"); /* ~0.1 s for stray completions */
  barrier();
  for (int k = 0; k < 5; k++) {
    if (stat[k] != 0xdd) fail(E_RESET_IN_FLIGHT, "a status byte was written after the reset completed");
    for (int i = 0; k < 4 && i < 1024; i++)
      if (buf[k][i] != 0xcc) fail(E_RESET_IN_FLIGHT, "read data was written after the reset completed");
  }
  if (*(volatile u16 *)&d->used->idx != used_idx) fail(E_RESET_IN_FLIGHT, "used.idx moved after the reset completed");
  init_device(d, 0, 0);
  expect_disk0_sector(E_RESET_IN_FLIGHT, "read after a reset with requests in flight", "sector 6 after a reset with requests in flight", 6);
  puts_("reset with requests in flight: ok\n");
}

int main(void) {
  puts_("virtio-blk guest\n");
  if (!present(disk0.base)) fail(E_SLOT0, "no virtio-blk device in slot 0");
  init_device(&disk0, 0, 1);
  int have1 = present(disk1.base);
  if (have1) init_device(&disk1, 1, 1);
  if (present(MMIO_BASE + 2 * SLOT_SIZE)) fail(E_SLOT2, "a virtio-blk device in slot 2");
  disk0_checks();
  if (have1) disk1_checks();
  reset_check();
  reset_in_flight_check();
  puts_("virtio-blk ok\n");
  return 0;
}
