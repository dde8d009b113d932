// blkbench: block device throughput and IOPS from inside the default guest.
//
//   blkbench DEVICE read|write|randread BLOCK_BYTES QUEUE_DEPTH TOTAL_BYTES
//
// Direct I/O (O_DIRECT) through Linux AIO (io_submit/io_getevents), keeping
// QUEUE_DEPTH requests in flight until TOTAL_BYTES have moved; `write` ends
// with fdatasync (a virtio-blk FLUSH), inside the timed span. `read`/`write`
// go sequentially from offset 0; `randread` picks block-aligned offsets with
// a fixed-seed PRNG, so two VMMs see the same request stream.
// Prints a line as the timed span starts and one with the result, which
// tools/bench parses (it samples the VMM's CPU time at each):
//   blkbench start mode=randread
//   blkbench mode=randread bs=4096 qd=16 ops=N bytes=N ns=N iops=N kBps=N
//
// Built against the kernel tree's nolibc (tools/include/nolibc): a few KiB,
// no libc start-up, one syscall per batch rather than per request - every
// guest syscall is costly on the kvm_pvm host (tools/guest/README.md).

#include <linux/aio_abi.h>

#define O_DIRECT_FLAG 040000
#define MAX_DEPTH 256

static long io_setup(unsigned nr, aio_context_t *ctx) { return my_syscall2(__NR_io_setup, nr, ctx); }
static long io_submit(aio_context_t ctx, long n, struct iocb **iocbs) { return my_syscall3(__NR_io_submit, ctx, n, iocbs); }
static long io_getevents(aio_context_t ctx, long min, long max, struct io_event *events) {
	return my_syscall5(__NR_io_getevents, ctx, min, max, events, 0);
}
static long monotonic_ns(void) {
	struct { long sec, nsec; } ts;
	my_syscall2(__NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
	return ts.sec * 1000000000L + ts.nsec;
}

static int fail(const char *what, long err) {
	printf("blkbench: error: %s (errno %d)\n", what, (int)-err);
	return 2;
}

static unsigned long parse_size(const char *s) {
	unsigned long v = 0;
	for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (unsigned long)(*s - '0');
	if (*s == 'K' || *s == 'k') v <<= 10;
	else if (*s == 'M' || *s == 'm') v <<= 20;
	else if (*s == 'G' || *s == 'g') v <<= 30;
	return v;
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;
static unsigned long long next_random(void) { // xorshift64
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct iocb slots[MAX_DEPTH];
static struct iocb *batch[MAX_DEPTH];
static struct io_event events[MAX_DEPTH];

int main(int argc, char **argv) {
	if (argc != 6) {
		printf("usage: blkbench DEVICE read|write|randread BLOCK_BYTES QUEUE_DEPTH TOTAL_BYTES\n");
		return 2;
	}
	const char *mode = argv[2];
	int writing = strcmp(mode, "write") == 0, random = strcmp(mode, "randread") == 0;
	if (!writing && !random && strcmp(mode, "read") != 0) return fail("mode must be read, write or randread", -22);
	unsigned long bs = parse_size(argv[3]), total = parse_size(argv[5]);
	long depth = atol(argv[4]);
	if (bs == 0 || bs % 512 != 0 || depth < 1 || depth > MAX_DEPTH || total < bs) return fail("bad block size, depth or total", -22);

	int fd = open(argv[1], (writing ? O_RDWR : O_RDONLY) | O_DIRECT_FLAG, 0);
	if (fd < 0) return fail("open", -errno);
	long device_bytes = lseek(fd, 0, SEEK_END); // a block device's size, or a file's
	if (device_bytes <= 0) return fail("cannot tell the device's size", device_bytes < 0 ? -errno : -22);
	if (!random && total > (unsigned long)device_bytes) return fail("TOTAL_BYTES is larger than the device", -22);
	unsigned long blocks_on_device = device_bytes / bs;

	char *buffers = mmap(0, bs * depth, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buffers == MAP_FAILED) return fail("mmap", -errno);
	for (unsigned long i = 0; i < bs * depth; i += 8) *(unsigned long *)(buffers + i) = i * 0x0101010101010101UL;

	aio_context_t ctx = 0;
	long r = io_setup(depth, &ctx);
	if (r < 0) return fail("io_setup (kernel without CONFIG_AIO?)", r);

	unsigned long ops = total / bs, issued = 0, done = 0, next_offset = 0;
	printf("blkbench start mode=%s\n", mode);
	long start = monotonic_ns();
	while (done < ops) {
		long n = 0;
		for (long slot = 0; slot < depth && issued < ops; slot++) {
			struct iocb *cb = &slots[slot];
			if (cb->aio_data != 0) continue; // in flight
			unsigned long long offset = random ? (next_random() % blocks_on_device) * bs : next_offset;
			next_offset += bs;
			memset(cb, 0, sizeof *cb);
			cb->aio_data = (unsigned long)(slot + 1);
			cb->aio_lio_opcode = writing ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cb->aio_fildes = fd;
			cb->aio_buf = (unsigned long)(buffers + slot * bs);
			cb->aio_nbytes = bs;
			cb->aio_offset = offset;
			batch[n++] = cb;
			issued++;
		}
		if (n > 0 && (r = io_submit(ctx, n, batch)) != n) return fail("io_submit", r < 0 ? r : -5);
		long got = io_getevents(ctx, 1, depth, events);
		if (got < 0) return fail("io_getevents", got);
		for (long i = 0; i < got; i++) {
			if (events[i].res != (long long)bs) return fail("short or failed I/O", events[i].res < 0 ? events[i].res : -5);
			slots[events[i].data - 1].aio_data = 0;
			done++;
		}
	}
	if (writing && (r = my_syscall1(__NR_fdatasync, fd)) < 0) return fail("fdatasync", r);
	long ns = monotonic_ns() - start;
	if (ns <= 0) ns = 1;
	unsigned long bytes = ops * bs;
	printf("blkbench mode=%s bs=%lu qd=%ld ops=%lu bytes=%lu ns=%ld iops=%lu kBps=%lu\n", mode, bs, depth, ops, bytes, ns,
	       (unsigned long)(ops * 1000000000.0 / ns), (unsigned long)(bytes * 1000000.0 / ns));
	return 0;
}
