/*
 * A tiny 64-bit guest that puts a random-read load on a virtio-blk device
 * (virtio-mmio version 2) with no Linux in between, so that a benchmark can
 * run the same binary under two VMMs and compare the VMMs' host CPU per
 * request. It measures nothing itself beyond a TSC delta per phase; the host
 * times the phases by when their console lines arrive.
 *
 * Entries (both end in the same 64-bit state, on this guest's own GDT and
 * page tables):
 *  - PVH (XEN_ELFNOTE_PHYS32_ENTRY note): 32-bit protected mode, paging off,
 *    %ebx = struct hvm_start_info. QEMU's microvm (qboot) boots it this way.
 *  - ELF e_entry: the Linux 64-bit boot protocol (long mode, %rsi = zero
 *    page), which is what tsvmm uses for an ELF kernel by default.
 *
 * Command line (space-separated words; unknown words are ignored):
 *   virtio_mmio.device=<size>@<base>:<irq>  (several; the VMM adds them)
 *   blkload.requests=N   requests per measured phase (default 4096)
 *   blkload.warmup=N     requests of the unmeasured depth-16 warm-up (default 20000; 0 skips it)
 *   blkload.depths=A,B   one measured phase per queue depth (default 1,32); a depth
 *                        may carry its own request count: 1:5000,32:50000
 *   blkload.seed=N       seed of the random sector sequence (default 1)
 *   blkload.queue=N      queue size to ask for (default 128, capped by QueueNumMax)
 *   blkload.interrupts=1 let the device interrupt (avail.flags 0): the interrupt
 *                        path's cost on the VMM's side, the CPU's interrupts still off
 *   blkload.think=T      spin T TSC ticks after each poll that reaped something,
 *                        before posting the replacements: a driver slower to come back
 * Each request is a 3-descriptor chain, so a depth-D phase needs 3*D
 * descriptors: a 128-entry queue allows depths up to 42.
 *
 * Console (COM1), each line ends with "\n"; during a phase nothing else:
 *   blkload device 0x<base> capacity <sectors> queue <size>
 *   blkload-start <name>.
 *   blkload-end <name> ops=<N> bytes=<N*4096> tsc=<delta>.
 *   blkload-stats <name> doorbells=<n> suppressed=<n> rescued=<n> batches=<n>   (after the end line)
 *   blkload done
 * Exit: the status byte to port 0x501 (0: all went well; codes below).
 *
 * Interrupts stay off in the CPU: avail.flags = NO_INTERRUPT (unless
 * blkload.interrupts=1), completions are found by polling used.idx, and
 * every wait is bounded by the TSC.
 *
 * Built by ../build.sh (gcc, freestanding) into ../bin/pvh-blk-load.elf.
 */
#include "virtio-blk.h"

/* ---- entry ---- */

/*
 * The page tables and the GDT are static data (in .data, so clearing .bss
 * cannot touch them): an identity map of the first 4 GiB in 2 MiB pages, the
 * last GiB (MMIO windows: 0xd0000000 under tsvmm, 0xfeb00000 under microvm)
 * uncached. Both entries switch to them, so both run on the same mappings.
 */
__asm__(/* PVH entry note. QEMU up to 8.x reads the descriptor of a 64-bit
           ELF as 64 bits, so what follows it must be a zero word: an empty
           note. 4-aligned: QEMU pads the name to the segment's alignment. */
        ".section .note.Xen, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 4, 18\n" /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
        ".asciz \"Xen\"\n"
        ".long pvh_start\n"
        ".long 0, 0, 0\n" /* the empty note */

        ".data\n"
        ".balign 4096\n"
        "pml4: .quad pdpt + 0x003\n"
        ".fill 511, 8, 0\n"
        "pdpt: .quad pd + 0x0003, pd + 0x1003, pd + 0x2003, pd + 0x3003\n"
        ".fill 508, 8, 0\n"
        "pd:\n"
        ".set addr, 0\n"
        ".rept 1536\n"
        "  .quad addr + 0x83\n" /* present, writable, 2 MiB */
        "  .set addr, addr + 0x200000\n"
        ".endr\n"
        ".rept 512\n"
        "  .quad addr + 0x9b\n" /* ... and PWT|PCD: uncached for MMIO */
        "  .set addr, addr + 0x200000\n"
        ".endr\n"
        ".balign 16\n"
        "gdt: .quad 0\n"
        ".quad 0x00af9a000000ffff\n" /* 0x08: 64-bit code */
        ".quad 0x00cf92000000ffff\n" /* 0x10: flat data */
        "gdt_end:\n"
        "gdt_ptr: .word gdt_end - gdt - 1\n"
        ".quad gdt\n"
        /* what the entry was given; in .data, since .bss is cleared later */
        ".globl boot_kind, boot_ptr\n"
        ".balign 4\n"
        "boot_kind: .long 0\n" /* 0: Linux 64-bit boot protocol, 1: PVH */
        ".balign 8\n"
        "boot_ptr: .quad 0\n"

        ".bss\n"
        ".balign 16\n"
        "stack: .skip 16384\n"
        "stack_top:\n"

        ".text\n"
        /* PVH: no stack, so nothing here pushes or calls */
        ".code32\n"
        "pvh_start:\n"
        "  cli\n"
        "  movl $1, boot_kind\n"
        "  movl %ebx, boot_ptr\n"
        "  movl $0, boot_ptr + 4\n"
        "  lgdt gdt_ptr\n"
        "  movl %cr4, %eax\n"
        "  orl $0x20, %eax\n" /* PAE */
        "  movl %eax, %cr4\n"
        "  movl $pml4, %eax\n"
        "  movl %eax, %cr3\n"
        "  movl $0xc0000080, %ecx\n" /* EFER */
        "  rdmsr\n"
        "  orl $0x100, %eax\n" /* LME */
        "  wrmsr\n"
        "  movl %cr0, %eax\n"
        "  andl $0x9fffffff, %eax\n" /* caches on (CD, NW clear): firmware may leave them as at reset */
        "  orl $0x80000001, %eax\n" /* PG (PE is already set) */
        "  movl %eax, %cr0\n"
        "  ljmp $0x08, $long_entry\n"

        ".code64\n"
        /* Linux 64-bit boot protocol (ELF e_entry): already in long mode */
        ".globl _start\n"
        "_start:\n"
        "  cli\n"
        "  movl $0, boot_kind(%rip)\n"
        "  movq %rsi, boot_ptr(%rip)\n"
        "  lgdt gdt_ptr(%rip)\n"
        "  lea pml4(%rip), %rax\n"
        "  mov %rax, %cr3\n"
        "  mov %cr0, %rax\n"
        "  and $~0x60000000, %rax\n" /* caches on, as on the PVH path */
        "  mov %rax, %cr0\n"
        "  lea stack_top(%rip), %rsp\n" /* the protocol promises no stack */
        "  pushq $0x08\n" /* reload CS from our GDT */
        "  lea long_entry(%rip), %rax\n"
        "  pushq %rax\n"
        "  lretq\n"

        "long_entry:\n"
        "  mov $0x10, %eax\n"
        "  mov %eax, %ds\n"
        "  mov %eax, %es\n"
        "  mov %eax, %ss\n"
        "  mov %eax, %fs\n"
        "  mov %eax, %gs\n"
        CLEAR_BSS_AND_RUN_MAIN);

extern u32 boot_kind;
extern u64 boot_ptr;

/* ---- failures ---- */

/* Failure codes: the exit status alone says what broke (QEMU's
 * isa-debug-exit turns status s into process exit (s << 1) | 1). */
enum {
  E_BOOT = 10,  /* no hvm_start_info magic */
  E_ARGS,       /* a blkload.* word that does not parse, or a depth out of range */
  E_NO_DEVICE,  /* no virtio-mmio v2 block device in any virtio_mmio.device window */
  E_FEATURES,   /* VERSION_1 not offered, or FEATURES_OK refused */
  E_QUEUE,      /* queue 0 too small, or set-up did not stick */
  E_DISK,       /* capacity below one 4 KiB block */
  E_DEPTH,      /* a depth needs more descriptors than the queue has */
  E_TIMEOUT,    /* a poll waited longer than TIMEOUT */
  E_USED,       /* bad used element: unknown id, wrong len, idx past what is in flight */
  E_STATUS,     /* a request completed with a non-zero status */
  E_RESET,      /* status does not read 0 after a reset */
};

/* The TSC rate is unknown (no calibration), so bounds are in ticks:
 * TIMEOUT is ~10 s at 3 GHz (30 s at 1 GHz, 6 s at 5 GHz) for one poll that
 * sees no completion; RESCUE (~0.1 s at 3 GHz) is how long a poll waits
 * before ringing the doorbell anyway, in case a skipped one was needed. */
#ifndef TIMEOUT /* (overridable with -D to test the paths by hand) */
#define TIMEOUT 30000000000ull
#endif
#ifndef RESCUE
#define RESCUE 300000000ull
#endif

/* ---- split virtqueue, one request slot per 3 descriptors ---- */

#define QMAX 512      /* largest queue this guest lays out */
#define QDEFAULT 128  /* queue size asked for unless blkload.queue says otherwise */
#define QMIN 32
#define MAX_SLOTS 128 /* deepest queue depth (needs a 384-entry queue) */
#define BLOCK 4096


/* rings sized for QMAX; the device is told the size in use */
struct avail {
  u16 flags;
  u16 idx;
  u16 ring[QMAX];
  u16 used_event;
};
struct used {
  u16 flags;
  u16 idx;
  struct used_elem ring[QMAX];
  u16 avail_event;
};
static struct desc descs[QMAX] __attribute__((aligned(4096)));
static volatile struct avail avail __attribute__((aligned(4096)));
static volatile struct used used __attribute__((aligned(4096)));

static struct hdr hdrs[MAX_SLOTS] __attribute__((aligned(16)));
static volatile u8 stat[MAX_SLOTS];
static u8 data[MAX_SLOTS][BLOCK] __attribute__((aligned(4096)));
static u8 in_flight[MAX_SLOTS];

static u64 base;      /* the device's window */
static u32 qsize;     /* queue size in use */
static u64 blocks;    /* capacity in 4 KiB blocks */
static u16 avail_idx; /* next avail.idx to publish */
static u16 used_seen; /* used.idx consumed so far */

/* per-phase counters, printed after the phase */
static u64 n_doorbells, n_suppressed, n_rescued, n_batches;

/* ---- command line ---- */

#define MAX_DEPTHS 16
static u64 opt_requests = 4096, opt_warmup = 20000, opt_seed = 1, opt_queue = QDEFAULT, opt_interrupts = 0, opt_think = 0;
static u64 opt_depths[MAX_DEPTHS] = {1, 32};
#define DEFAULT_COUNT (~0ull) /* "blkload.requests" */
static u64 opt_counts[MAX_DEPTHS] = {DEFAULT_COUNT, DEFAULT_COUNT};
static int opt_ndepths = 2;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

static int starts(const char *w, const char *prefix) {
  while (*prefix)
    if (*w++ != *prefix++) return 0;
  return 1;
}

/* An unsigned number (decimal, or hex after 0x) at *p; advances *p. Returns 0 if there is none. */
static int number(const char **p, u64 *out) {
  const char *s = *p;
  u64 v = 0;
  int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (hex) s += 2;
  const char *digits = s;
  for (;; s++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (hex && *s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
    else if (hex && *s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
    else break;
    v = v * (hex ? 16 : 10) + (u64)d;
  }
  if (s == digits) return 0;
  *p = s;
  *out = v;
  return 1;
}

/* The whole value of a blkload.* word must be one number. */
static u64 word_number(const char *v, const char *word) {
  u64 n;
  if (!number(&v, &n) || !(*v == 0 || is_space(*v))) fail(E_ARGS, word);
  return n;
}

#define MAX_WINDOWS 32
static u64 win_base[MAX_WINDOWS], win_size[MAX_WINDOWS];
static int n_windows;

/* virtio_mmio.device=<size>[KMG]@<base>:<irq>; a word that does not parse is ignored (not ours to judge). */
static void window_word(const char *v) {
  u64 size, b;
  if (!number(&v, &size)) return;
  if (*v == 'K' || *v == 'k') size <<= 10, v++;
  else if (*v == 'M' || *v == 'm') size <<= 20, v++;
  else if (*v == 'G' || *v == 'g') size <<= 30, v++;
  if (*v++ != '@' || !number(&v, &b)) return;
  if (n_windows < MAX_WINDOWS) {
    win_base[n_windows] = b;
    win_size[n_windows] = size;
    n_windows++;
  }
}

static void parse_cmdline(const char *c) {
  while (*c) {
    while (is_space(*c)) c++;
    if (!*c) break;
    const char *w = c;
    if (starts(w, "virtio_mmio.device=")) window_word(w + 19);
    else if (starts(w, "blkload.requests=")) opt_requests = word_number(w + 17, "blkload.requests= wants a number");
    else if (starts(w, "blkload.warmup=")) opt_warmup = word_number(w + 15, "blkload.warmup= wants a number");
    else if (starts(w, "blkload.seed=")) opt_seed = word_number(w + 13, "blkload.seed= wants a number");
    else if (starts(w, "blkload.queue=")) opt_queue = word_number(w + 14, "blkload.queue= wants a number");
    else if (starts(w, "blkload.interrupts=")) opt_interrupts = word_number(w + 19, "blkload.interrupts= wants 0 or 1");
    else if (starts(w, "blkload.think=")) opt_think = word_number(w + 14, "blkload.think= wants a number of TSC ticks");
    else if (starts(w, "blkload.depths=")) {
      const char *v = w + 15;
      opt_ndepths = 0;
      for (;;) {
        u64 d, count = DEFAULT_COUNT;
        if (!number(&v, &d)) fail(E_ARGS, "blkload.depths= wants depth[:requests] items separated by commas");
        if (*v == ':' && (v++, !number(&v, &count))) fail(E_ARGS, "blkload.depths= wants depth[:requests] items separated by commas");
        if (d < 1 || d > MAX_SLOTS) fail(E_ARGS, "a depth in blkload.depths= is not in 1..128");
        if (opt_ndepths == MAX_DEPTHS) fail(E_ARGS, "more than 16 depths in blkload.depths=");
        opt_depths[opt_ndepths] = d;
        opt_counts[opt_ndepths++] = count;
        if (*v != ',') break;
        v++;
      }
      if (!(*v == 0 || is_space(*v))) fail(E_ARGS, "blkload.depths= wants depth[:requests] items separated by commas");
    }
    while (*c && !is_space(*c)) c++;
  }
  if (opt_queue < QMIN || opt_queue > QMAX || (opt_queue & (opt_queue - 1)))
    fail(E_ARGS, "blkload.queue= is not a power of two in 32..512");
}

/* The command line the entry was given, or "" if none. */
static const char *cmdline(void) {
  u64 p = 0;
  if (boot_kind == 1) {
    /* struct hvm_start_info: magic at 0, cmdline_paddr (u64) at 24 */
    const volatile u8 *si = (const volatile u8 *)boot_ptr;
    if (*(const volatile u32 *)si != 0x336ec578u) fail(E_BOOT, "no hvm_start_info magic at %ebx");
    p = *(const volatile u64 *)(si + 24);
  } else if (boot_ptr) {
    /* zero page: hdr.cmd_line_ptr (u32) at 0x228, ext_cmd_line_ptr (u32) at 0x0c8 */
    const volatile u8 *zp = (const volatile u8 *)boot_ptr;
    u64 lo = *(const volatile u32 *)(zp + 0x228), hi = *(const volatile u32 *)(zp + 0x0c8);
    p = hi << 32 | lo;
  }
  if (p == 0 || p >= (1ull << 32)) return ""; /* only the first 4 GiB is mapped */
  return (const char *)p;
}

/* ---- random sectors: xorshift64*, seeded through splitmix64 so any seed (0 too) works ---- */

static u64 rng;

static void seed_rng(u64 seed) {
  u64 z = seed + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  rng = (z ^ (z >> 31)) | 1;
}

/* A random 4 KiB-aligned sector whose block lies inside the disk. */
static u64 random_sector(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  u64 r = rng * 0x2545f4914f6cdd1dull;
  return (u64)(((unsigned __int128)r * blocks) >> 64) * 8; /* uniform in [0, blocks) without a division */
}

/* ---- device set-up ---- */

static int is_block_device(u64 b, u64 size) {
  if (b + size > (1ull << 32) || size < 0x200) return 0; /* not mapped, or too small for the registers */
  return rd32(b, R_MAGIC) == MAGIC && rd32(b, R_VERSION) == 2 && rd32(b, R_DEVICE_ID) == VIRTIO_ID_BLOCK;
}

static void reset_device(void) {
  wr32(base, R_STATUS, 0);
  u64 start = rdtsc();
  while (rd32(base, R_STATUS) != 0)
    if (rdtsc() - start > TIMEOUT) fail(E_RESET, "status does not read 0 after a reset");
}

static void init_device(void) {
  reset_device();
  wr32(base, R_STATUS, S_ACK);
  wr32(base, R_STATUS, S_ACK | S_DRIVER);

  wr32(base, R_DEV_FEAT_SEL, 1);
  if (!(rd32(base, R_DEV_FEAT) & (1u << (F_VERSION_1 - 32)))) fail(E_FEATURES, "VIRTIO_F_VERSION_1 not offered");
  /* VERSION_1 only: no EVENT_IDX, no indirect descriptors, nothing block-specific */
  wr32(base, R_DRV_FEAT_SEL, 0);
  wr32(base, R_DRV_FEAT, 0);
  wr32(base, R_DRV_FEAT_SEL, 1);
  wr32(base, R_DRV_FEAT, 1u << (F_VERSION_1 - 32));
  wr32(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  if (!(rd32(base, R_STATUS) & S_FEATURES_OK)) fail(E_FEATURES, "FEATURES_OK refused for VIRTIO_F_VERSION_1 alone");

  /* capacity (u64 at config offset 0), read as two halves under the generation counter */
  u32 gen, lo, hi;
  do {
    gen = rd32(base, R_CONFIG_GEN);
    lo = rd32(base, R_CONFIG + 0);
    hi = rd32(base, R_CONFIG + 4);
  } while (rd32(base, R_CONFIG_GEN) != gen);
  u64 capacity = ((u64)hi << 32) | lo;
  blocks = capacity / 8;
  if (blocks == 0) fail(E_DISK, "the disk holds less than one 4 KiB block");

  wr32(base, R_QUEUE_SEL, 0);
  u32 max = rd32(base, R_QUEUE_NUM_MAX);
  if (max < QMIN) {
    puts_("blkload QueueNumMax ");
    putdec(max);
    putc_('\n');
    fail(E_QUEUE, "queue 0 holds fewer than 32 entries");
  }
  if (rd32(base, R_QUEUE_READY) != 0) fail(E_QUEUE, "queue 0 ready before set-up");
  qsize = (u32)opt_queue;
  while (qsize > max) qsize >>= 1; /* split rings: a power of two no larger than the maximum */

  /* Slot s owns descriptors 3s..3s+2 for good: header, 4 KiB data, status.
   * Only the header's sector changes from request to request. */
  memset(descs, 0, sizeof descs);
  for (u32 s = 0; s < MAX_SLOTS && 3 * s + 2 < qsize; s++) {
    struct desc *d = &descs[3 * s];
    d[0] = (struct desc){(u64)(unsigned long)&hdrs[s], sizeof hdrs[s], DESC_NEXT, (u16)(3 * s + 1)};
    d[1] = (struct desc){(u64)(unsigned long)data[s], BLOCK, DESC_WRITE | DESC_NEXT, (u16)(3 * s + 2)};
    d[2] = (struct desc){(u64)(unsigned long)&stat[s], 1, DESC_WRITE, 0};
    hdrs[s].type = T_IN;
  }
  memset((void *)&avail, 0, sizeof avail);
  memset((void *)&used, 0, sizeof used);
  /* completions are polled: the device need not interrupt, unless asked to (the CPU never takes them) */
  avail.flags = opt_interrupts ? 0 : AVAIL_F_NO_INTERRUPT;
  avail_idx = used_seen = 0;

  wr32(base, R_QUEUE_NUM, qsize);
  wr32(base, R_DESC_LO, (u32)(unsigned long)descs);
  wr32(base, R_DESC_HI, 0);
  wr32(base, R_DRIVER_LO, (u32)(unsigned long)&avail);
  wr32(base, R_DRIVER_HI, 0);
  wr32(base, R_DEVICE_LO, (u32)(unsigned long)&used);
  wr32(base, R_DEVICE_HI, 0);
  wr32(base, R_QUEUE_READY, 1);
  if (rd32(base, R_QUEUE_READY) != 1) fail(E_QUEUE, "QueueReady does not read back 1");
  wr32(base, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  if (rd32(base, R_STATUS) != (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)) fail(E_QUEUE, "status is not DRIVER_OK after set-up");

  puts_("blkload device ");
  puthex(base);
  puts_(" capacity ");
  putdec(capacity);
  puts_(" queue ");
  putdec(qsize);
  putc_('\n');
}

/* ---- the load ---- */

/* Makes slot s's request (a fresh random sector) available; not yet published. */
static void post(u32 s) {
  hdrs[s].sector = random_sector();
  stat[s] = 0xff; /* a status the device must overwrite */
  in_flight[s] = 1;
  avail.ring[avail_idx % qsize] = (u16)(3 * s);
  avail_idx++;
}

/* Publishes what post() made available and rings the doorbell unless the device said it need not. */
static void publish(void) {
  barrier(); /* ring entries and headers before the index (x86: stores stay in order) */
  avail.idx = avail_idx;
  /* the index store must be visible before used.flags is read, or a device
   * that just re-enabled notifications and found nothing new would be missed */
  __asm__ volatile("mfence" : : : "memory");
  if (used.flags & USED_F_NO_NOTIFY) {
    n_suppressed++;
    return;
  }
  wr32(base, R_QUEUE_NOTIFY, 0);
  n_doorbells++;
}

/* Waits for used.idx to move; returns the new index. Rings the doorbell
 * again after RESCUE ticks without progress: a device that set NO_NOTIFY is
 * expected to look at avail.idx again before clearing it, but if one did not,
 * a skipped doorbell must not leave requests waiting until TIMEOUT. */
static u16 wait_used(u32 outstanding) {
  u64 start = rdtsc(), last_kick = start;
  for (;;) {
    u16 now = used.idx;
    if (now != used_seen) {
      if ((u16)(now - used_seen) > outstanding) fail(E_USED, "used.idx moved past the requests in flight");
      barrier(); /* the index before the elements (x86: loads stay in order) */
      return now;
    }
    u64 t = rdtsc();
    if (t - last_kick > RESCUE) {
      wr32(base, R_QUEUE_NOTIFY, 0);
      n_rescued++;
      last_kick = t;
    }
    if (t - start > TIMEOUT) {
      puts_("blkload used.idx ");
      putdec(now);
      puts_(", avail.idx ");
      putdec(avail_idx);
      puts_(", in flight ");
      putdec(outstanding);
      puts_(", device status ");
      puthex(rd32(base, R_STATUS));
      putc_('\n');
      fail(E_TIMEOUT, "timed out waiting for a completion");
    }
    __asm__ volatile("pause");
  }
}

/* "warmup", or "qd<D>" for a measured phase */
static void phase_name(int measured, u64 depth) {
  if (!measured) {
    puts_("warmup");
    return;
  }
  puts_("qd");
  putdec(depth);
}

/* A depth-D phase keeps 3*D descriptors in use. */
static void check_depth(u64 depth) {
  if (3 * depth <= qsize) return;
  puts_("blkload depth ");
  putdec(depth);
  puts_(" needs ");
  putdec(3 * depth);
  puts_(" descriptors, queue ");
  putdec(qsize);
  putc_('\n');
  fail(E_DEPTH, "a queue depth needs more descriptors than the queue holds");
}

/* One phase: exactly `depth` requests in flight (fewer only at the very
 * end) until n have completed. Each poll reaps every visible completion,
 * posts their replacements and rings the doorbell once. */
static void run_phase(int measured, u64 depth, u64 n) {
  check_depth(depth);
  n_doorbells = n_suppressed = n_rescued = n_batches = 0;
  puts_("blkload-start ");
  phase_name(measured, depth);
  puts_(".\n");

  u64 t0 = rdtsc();
  u64 posted = 0, done = 0;
  for (u32 s = 0; s < depth && posted < n; s++, posted++) post(s);
  if (posted) publish();
  while (done < n) {
    u16 now = wait_used((u32)(posted - done));
    u64 before = posted;
    n_batches++;
    if (opt_think)
      for (u64 t = rdtsc(); rdtsc() - t < opt_think;) __asm__ volatile("pause");
    while (used_seen != now) {
      volatile struct used_elem *e = &used.ring[used_seen % qsize];
      u32 id = e->id, len = e->len;
      used_seen++;
      u32 s = id / 3;
      if (id % 3 || s >= depth || !in_flight[s]) fail(E_USED, "a used element names no request in flight");
      in_flight[s] = 0;
      if (stat[s] != 0) {
        puts_("blkload sector ");
        putdec(hdrs[s].sector);
        puts_(" status ");
        puthex(stat[s]);
        putc_('\n');
        fail(E_STATUS, "a read completed with a non-zero status");
      }
      if (len != BLOCK + 1) {
        puts_("blkload used.len ");
        putdec(len);
        putc_('\n');
        fail(E_USED, "used.len of a 4 KiB read is not 4097 (data + status)");
      }
      done++;
      if (posted < n) {
        post(s);
        posted++;
      }
    }
    if (posted != before) publish();
  }
  u64 t1 = rdtsc();

  puts_("blkload-end ");
  phase_name(measured, depth);
  puts_(" ops=");
  putdec(n);
  puts_(" bytes=");
  putdec(n * BLOCK);
  puts_(" tsc=");
  putdec(t1 - t0);
  puts_(".\n");
  puts_("blkload-stats ");
  phase_name(measured, depth);
  puts_(" doorbells=");
  putdec(n_doorbells);
  puts_(" suppressed=");
  putdec(n_suppressed);
  puts_(" rescued=");
  putdec(n_rescued);
  puts_(" batches=");
  putdec(n_batches);
  putc_('\n');
}

int main(void) {
  parse_cmdline(cmdline());
  for (int i = 0; i < n_windows && !base; i++)
    if (is_block_device(win_base[i], win_size[i])) base = win_base[i];
  if (!base) {
    puts_("blkload: ");
    putdec((u64)n_windows);
    puts_(" virtio_mmio.device= windows on the command line\n");
    for (int i = 0; i < n_windows; i++) {
      puts_("blkload window ");
      puthex(win_base[i]);
      puts_(" size ");
      puthex(win_size[i]);
      if (win_base[i] + win_size[i] <= (1ull << 32) && win_size[i] >= 0x200) {
        puts_(": magic ");
        puthex(rd32(win_base[i], R_MAGIC));
        puts_(" version ");
        putdec(rd32(win_base[i], R_VERSION));
        puts_(" device ");
        putdec(rd32(win_base[i], R_DEVICE_ID));
      }
      putc_('\n');
    }
    fail(E_NO_DEVICE, "no virtio-mmio version 2 block device in any virtio_mmio.device= window");
  }
  init_device();
  for (int i = 0; i < opt_ndepths; i++) check_depth(opt_depths[i]); /* before any phase runs */
  seed_rng(opt_seed);
  /* warm-up at depth 16 (less if the queue is smaller): caches, the host's page cache, JITs */
  if (opt_warmup) run_phase(0, 3 * 16 <= qsize ? 16 : qsize / 3, opt_warmup);
  for (int i = 0; i < opt_ndepths; i++) run_phase(1, opt_depths[i], opt_counts[i] == DEFAULT_COUNT ? opt_requests : opt_counts[i]);
  puts_("blkload done\n");
  return 0;
}
