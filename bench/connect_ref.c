/* The reference for probe's connection rate: the same connect/accept loop in minimal C.
 *
 *   connect_ref N SOURCES PER_WORKER      (inside a fresh network namespace, lo up)
 *
 * Like `tunekit probe`: one listener on 127.0.0.1:61000; ceil(N / PER_WORKER) connect
 * processes and as many accept processes, each holding at most PER_WORKER sockets; the
 * connectors bind a source address from 127.1.0.1 on (round robin over SOURCES) with
 * IP_BIND_ADDRESS_NO_PORT, then connect(); the acceptors accept(). The clock runs from
 * "go" (all processes forked and waiting) to the last accept; it prints connections/s.
 * bench/probe.py compiles it with `cc -O2` and runs it next to the probe.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) { perror(what); _exit(1); }

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s N SOURCES PER_WORKER\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]), sources = atol(argv[2]), per = atol(argv[3]);
    long workers = (n + per - 1) / per;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(61000),
                              .sin_addr.s_addr = htonl(0x7f000001)};
    int one = 1, lsock = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lsock, (void *)&dst, sizeof dst) || listen(lsock, 65535)) die("listen");

    int go[2], done[2];
    if (pipe(go) || pipe(done)) die("pipe");
    pid_t *pids = calloc(2 * workers, sizeof *pids);
    long offset = 0;
    for (long w = 0; w < 2 * workers; w++) {
        long i = w % workers, share = n / workers + (i < n % workers);
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid) { pids[w] = pid; if (w < workers) offset += share; continue; }
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0) die("read");  /* returns 0 when the parent closes go */
        if (w < workers) {  /* connector */
            close(lsock);
            for (long j = 0; j < share; j++) {
                struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0,
                    .sin_addr.s_addr = htonl(0x7f010001 + (uint32_t)((offset + j) % sources))};
                int s = socket(AF_INET, SOCK_STREAM, 0);
                if (s < 0) die("socket");
                setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
                if (bind(s, (void *)&src, sizeof src)) die("bind");
                if (connect(s, (void *)&dst, sizeof dst)) die("connect");
            }
        } else {  /* acceptor */
            for (long j = 0; j < share; j++)
                if (accept(lsock, NULL, NULL) < 0) die("accept");
        }
        if (write(done[1], "x", 1) != 1) die("write");
        pause();
        _exit(0);
    }
    close(go[0]);
    double t0 = now();
    close(go[1]);  /* go */
    for (long w = 0; w < 2 * workers; w++) {
        char c;
        if (read(done[0], &c, 1) != 1) die("read done");
    }
    double t = now() - t0;
    printf("%ld connections in %.3f s: %.0f/s (%ld connect + %ld accept processes)\n",
           n, t, n / t, workers, workers);
    for (long w = 0; w < 2 * workers; w++) kill(pids[w], SIGKILL);
    while (wait(NULL) > 0) {}
    return 0;
}
