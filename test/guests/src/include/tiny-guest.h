/*
 * What every freestanding C test guest needs (long-*.c, pvh-*.c): fixed-width
 * types, the two functions gcc may call even when freestanding, port output,
 * a COM1 console that needs no set-up, and the exit device (port 0x501, as
 * QEMU's isa-debug-exit,iobase=0x501). Static: each guest is one file.
 */
#ifndef TINY_GUEST_H
#define TINY_GUEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

void *memset(void *d, int c, unsigned long n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}
void *memcpy(void *d, const void *s, unsigned long n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }

static void putc_(char c) { outb(0x3f8, (u8)c); }
static void puts_(const char *s) {
  while (*s) putc_(*s++);
}
static void putdec(u64 v) {
  char b[21];
  int i = 20;
  b[i] = 0;
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  puts_(b + i);
}
static void puthex(u64 v) {
  char b[19];
  int i = 18;
  b[i] = 0;
  do {
    b[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  b[--i] = 'x';
  b[--i] = '0';
  puts_(b + i);
}

/* Called from the entry's assembly with main's return value, hence `used`. */
__attribute__((noreturn, used)) void exit_vm(int status) {
  outb(0x501, (u8)status);
  for (;;) __asm__ volatile("hlt");
}

/* The entry's last steps, in assembly: .bss cleared (the stack in it
 * included, so nothing may be on it yet), the stack set to `stack_top`,
 * main() called and its value passed to exit_vm(). */
#define CLEAR_BSS_AND_RUN_MAIN      \
  "  lea __bss_start(%rip), %rdi\n" \
  "  lea _end(%rip), %rcx\n"        \
  "  sub %rdi, %rcx\n"              \
  "  xor %eax, %eax\n"              \
  "  cld\n"                         \
  "  rep stosb\n"                   \
  "  lea stack_top(%rip), %rsp\n"   \
  "  call main\n"                   \
  "  mov %eax, %edi\n"              \
  "  call exit_vm\n"

/* A failed check: what broke on the console, a status of its own to the exit device. */
__attribute__((noreturn)) static void fail(int code, const char *what) {
  puts_("FAIL: ");
  puts_(what);
  puts_(" (exit ");
  putdec((u64)code);
  puts_(")\n");
  exit_vm(code);
}

/* Keeps the compiler from moving memory accesses across it (x86 keeps stores in order, and loads). */
#define barrier() __asm__ volatile("" : : : "memory")

static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((u64)hi << 32) | lo;
}

#endif
