// A plain C UDP ping-pong on loopback, blocking recv on both sides: what a
// round trip costs this host with no library at all (the baseline beside
// troupe bench --members 2 and ddsperf ping-pong in the README).
//   cc -O2 -o /tmp/raw-pingpong bench/raw-pingpong.c && /tmp/raw-pingpong 20000
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int by_value(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static int bound(uint16_t port, struct sockaddr_in* addr) {
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr->sin_port = htons(port);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0 || bind(s, (struct sockaddr*)addr, sizeof *addr) != 0) { perror("socket/bind"); exit(1); }
  return s;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 20000;
  struct sockaddr_in ping, pong;
  const int sPing = bound(0, &ping), sPong = bound(0, &pong);
  socklen_t len = sizeof ping;
  getsockname(sPing, (struct sockaddr*)&ping, &len);
  len = sizeof pong;
  getsockname(sPong, (struct sockaddr*)&pong, &len);
  const pid_t child = fork();
  if (child == 0) {  // the ponger: echo until the last one (byte 0 == 2)
    char b[200];
    for (;;) {
      const ssize_t r = recv(sPong, b, sizeof b, 0);
      if (r > 0 && b[0] == 2) _exit(0);
      if (r > 0) sendto(sPong, b, (size_t)r, 0, (struct sockaddr*)&ping, sizeof ping);
    }
  }
  uint64_t* rtt = malloc(sizeof *rtt * (size_t)n);
  char b[100] = {0};
  for (int i = 0; i < n; i++) {
    const uint64_t t = now_ns();
    b[0] = 1;
    sendto(sPing, b, sizeof b, 0, (struct sockaddr*)&pong, sizeof pong);
    recv(sPing, b, sizeof b, 0);
    rtt[i] = now_ns() - t;
  }
  b[0] = 2;
  sendto(sPing, b, sizeof b, 0, (struct sockaddr*)&pong, sizeof pong);
  waitpid(child, NULL, 0);
  qsort(rtt, (size_t)n, sizeof *rtt, by_value);
  printf("plain C ping-pong, %d round trips: p50 %llu p90 %llu p99 %llu p99.9 %llu max %llu us\n", n,
         (unsigned long long)rtt[n / 2] / 1000, (unsigned long long)rtt[n * 9 / 10] / 1000, (unsigned long long)rtt[n * 99 / 100] / 1000,
         (unsigned long long)rtt[n * 999 / 1000] / 1000, (unsigned long long)rtt[n - 1] / 1000);
  return 0;
}
