/*
 * The floor under the net-path ping (net-data-path.ts): the system calls a
 * NIC's device thread cannot avoid per round trip over a stream backend,
 * made from C with nothing else around them. The device thread sleeps in
 * epoll_wait on a doorbell eventfd and the stream socket (both
 * edge-triggered, as tsvmm's are): woken by the doorbell it writes one framed
 * frame (QEMU's stream framing: a 4-byte big-endian length, then the frame),
 * woken by the socket it reads the echo back with one readv. The far end, in
 * the main thread, spins as the benchmark's driver does: rings the doorbell,
 * echoes what arrives, waits for the device to have taken it.
 * Prints the round trips per second and the device thread's CPU (user and
 * system) per round trip, over the round trips after the warm-up.
 * Usage: net-ping-floor WARMUP PINGS FRAME_BYTES
 */
#define _GNU_SOURCE
#include <pthread.h>
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
#define SOCKET 2

static int doorbell, sockets[2];
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
  e.data.u32 = SOCKET;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, sockets[0], &e) < 0) die("epoll_ctl");
  unsigned char *out = calloc(1, 4 + frame), in[65536];
  out[0] = frame >> 24, out[1] = frame >> 16, out[2] = frame >> 8, out[3] = frame;
  for (;;) {
    struct epoll_event ready[4];
    int n = epoll_wait(ep, ready, 4, -1);
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      if (ready[i].data.u32 == DOORBELL) {
        if (write(sockets[0], out, 4 + frame) != 4 + frame) die("write");
        continue;
      }
      struct iovec iov = {in, sizeof in};
      if (readv(sockets[0], &iov, 1) <= 0) continue;
      long done = atomic_fetch_add(&echoed, 1) + 1;
      if (done == warmup) getrusage(RUSAGE_THREAD, &device_start);
      if (done == warmup + pings) {
        getrusage(RUSAGE_THREAD, &device_end);
        return NULL;
      }
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s WARMUP PINGS FRAME_BYTES\n", argv[0]); return 2; }
  warmup = atol(argv[1]);
  pings = atol(argv[2]);
  frame = atol(argv[3]);
  if (warmup <= 0 || pings <= 0 || frame <= 0 || frame + 4 > 65536) { fprintf(stderr, "bad WARMUP, PINGS or FRAME_BYTES\n"); return 2; }
  doorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (doorbell < 0) die("eventfd");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets) < 0) die("socketpair");
  pthread_t thread;
  if (pthread_create(&thread, NULL, device, NULL) != 0) die("pthread_create");
  unsigned long long one = 1;
  unsigned char buffer[65536];
  struct timespec start, end;
  for (long i = 0; i < warmup + pings; i++) {
    if (i == warmup) clock_gettime(CLOCK_MONOTONIC, &start);
    if (write(doorbell, &one, sizeof one) != sizeof one) die("write doorbell");
    for (long got = 0; got < 4 + frame;) {
      ssize_t n = read(sockets[1], buffer + got, 4 + frame - got);
      if (n > 0) got += n;
    }
    for (long sent = 0; sent < 4 + frame;) {
      ssize_t n = write(sockets[1], buffer + sent, 4 + frame - sent);
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
