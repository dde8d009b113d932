/*
 * The floor under the net-path ping (net-data-path.ts): the system calls a
 * NIC's device thread cannot avoid per round trip over a stream backend or a
 * tap, made from C with nothing else around them. The device thread sleeps
 * in epoll_wait on a doorbell eventfd and the backend's descriptor (both
 * edge-triggered, as tsvmm's are): woken by the doorbell it writes one frame
 * (over a stream in QEMU's framing: a 4-byte big-endian length, then the
 * frame; to a tap behind a 12-byte virtio-net header), woken by the backend
 * it reads the echo back with one readv. The far end, in the main thread,
 * spins as the benchmark's driver does: rings the doorbell, echoes what
 * arrives (from the stream's other socket, or a packet socket on the tap's
 * host side), waits for the device to have taken it.
 * Prints the round trips per second and the device thread's CPU (user and
 * system) per round trip, over the round trips after the warm-up.
 * Usage: net-ping-floor WARMUP PINGS FRAME_BYTES [TAP]
 * (TAP: an existing tap made with a virtio-net header, as root.)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DOORBELL 1
#define BACKEND 2
#define VNET_HEADER 12

/* The device's end of the backend and the far end's. */
static int doorbell, backend, peer;
/* What precedes a frame the device writes: the stream's length word or the tap's header. */
static long prefix;
static long warmup, pings, frame;
static atomic_long echoed;
static struct rusage device_start, device_end;

static void die(const char *what) { perror(what); exit(1); }

static double micros(struct timeval t) { return t.tv_sec * 1e6 + t.tv_usec; }

static void *device(void *unused) {
  (void)unused;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u32 = DOORBELL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, doorbell, &e) < 0) die("epoll_ctl");
  e.data.u32 = BACKEND;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, backend, &e) < 0) die("epoll_ctl");
  unsigned char *out = calloc(1, prefix + frame), in[65536 + VNET_HEADER];
  if (prefix == 4) out[0] = frame >> 24, out[1] = frame >> 16, out[2] = frame >> 8, out[3] = frame;
  /* Locally administered MACs and a local experimental EtherType: the host's stack ignores the frame. */
  memset(out + prefix, 0x02, 12);
  out[prefix + 12] = 0x88, out[prefix + 13] = 0xb5;
  for (;;) {
    struct epoll_event ready[4];
    int n = epoll_wait(ep, ready, 4, -1);
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      if (ready[i].data.u32 == DOORBELL) {
        if (write(backend, out, prefix + frame) != prefix + frame) die("write");
        continue;
      }
      struct iovec iov = {in, sizeof in};
      if (readv(backend, &iov, 1) <= 0) continue;
      long done = atomic_fetch_add(&echoed, 1) + 1;
      if (done == warmup) getrusage(RUSAGE_THREAD, &device_start);
      if (done == warmup + pings) {
        getrusage(RUSAGE_THREAD, &device_end);
        return NULL;
      }
    }
  }
}

/* The tap `name` with a virtio-net header, non-blocking, as tsvmm's tap backend opens it. */
static int open_tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("/dev/net/tun");
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  int size = VNET_HEADER;
  if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) die("TUNSETVNETHDRSZ");
  return fd;
}

/* A raw packet socket on the tap's host side, leaving out what this host sends on it. */
static int open_packet_socket(const char *name) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) die("packet socket");
  int on = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on) < 0) die("PACKET_IGNORE_OUTGOING");
  struct sockaddr_ll address = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = if_nametoindex(name)};
  if (address.sll_ifindex == 0) die(name);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) { fprintf(stderr, "usage: %s WARMUP PINGS FRAME_BYTES [TAP]\n", argv[0]); return 2; }
  warmup = atol(argv[1]);
  pings = atol(argv[2]);
  frame = atol(argv[3]);
  if (warmup <= 0 || pings <= 0 || frame < 14 || frame + 4 > 65536) { fprintf(stderr, "bad WARMUP, PINGS or FRAME_BYTES\n"); return 2; }
  doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (doorbell < 0) die("eventfd");
  if (argc == 5) {
    backend = open_tap(argv[4]);
    peer = open_packet_socket(argv[4]);
    prefix = VNET_HEADER;
  } else {
    int sockets[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets) < 0) die("socketpair");
    backend = sockets[0], peer = sockets[1];
    prefix = 4;
  }
  /* What the far end gets and echoes: the frame alone from a packet socket, framed from the stream. */
  long echo = argc == 5 ? frame : 4 + frame;
  pthread_t thread;
  if (pthread_create(&thread, NULL, device, NULL) != 0) die("pthread_create");
  unsigned long long one = 1;
  unsigned char buffer[65536];
  struct timespec start, end;
  for (long i = 0; i < warmup + pings; i++) {
    if (i == warmup) clock_gettime(CLOCK_MONOTONIC, &start);
    if (write(doorbell, &one, sizeof one) != sizeof one) die("write doorbell");
    for (long got = 0; got < echo;) {
      ssize_t n = read(peer, buffer + got, echo - got);
      if (n > 0) got += n;
    }
    for (long sent = 0; sent < echo;) {
      ssize_t n = write(peer, buffer + sent, echo - sent);
      if (n > 0) sent += n;
    }
    while (atomic_load(&echoed) <= i) {}
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  pthread_join(thread, NULL);
  double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
  double user = micros(device_end.ru_utime) - micros(device_start.ru_utime);
  double system = micros(device_end.ru_stime) - micros(device_start.ru_stime);
  printf("{\"roundTripsPerSecond\":%.1f,\"deviceUserUsPerRoundTrip\":%.3f,\"deviceSystemUsPerRoundTrip\":%.3f}\n",
         pings / seconds, user / pings, system / pings);
  return 0;
}
