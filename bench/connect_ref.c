/* The reference for probe's connection rate: the same connect/accept loop in minimal C.
 *
 *   connect_ref N SOURCES PER_WORKER      (inside a fresh network namespace, lo up)
 *   connect_ref --target N PER_WORKER SRC[,SRC...] IP:PORT[,IP:PORT...]
 *
 * --target is `tunekit probe --target`'s loop: connectors only, against a real server; each
 * connector issues batches of 64 non-blocking connect()s (from SRC bound with
 * IP_BIND_ADDRESS_NO_PORT, round robin over every (source, target) pair, sources first)
 * and polls until the batch is established, as workers.py does. The clock runs from "go"
 * to the last connector's last connection.
 *
 * Like `tunekit probe`: one listener on 127.0.0.1:61000; ceil(N / PER_WORKER) connect
 * processes and as many accept processes, each holding at most PER_WORKER sockets; the
 * connectors bind a source address from 127.1.0.1 on (round robin over SOURCES) with
 * IP_BIND_ADDRESS_NO_PORT, then connect(); the acceptors accept(). The clock runs from
 * "go" (all processes forked and waiting) to the last accept; it prints connections/s.
 * bench/probe.py compiles it with `cc -O2` and runs it next to the probe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
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

#define BATCH 64
#define MAX_PAIRS 4096

static struct sockaddr_in srcs[MAX_PAIRS], dsts[MAX_PAIRS];

static int parse_list(char *text, struct sockaddr_in *out, int with_port) {
    int n = 0;
    for (char *item = strtok(text, ","); item && n < MAX_PAIRS; item = strtok(NULL, ",")) {
        char *colon = strrchr(item, ':');
        out[n] = (struct sockaddr_in){.sin_family = AF_INET};
        if (with_port) {
            if (!colon) return -1;
            *colon = 0;
            out[n].sin_port = htons((unsigned short)atoi(colon + 1));
        }
        if (inet_pton(AF_INET, item, &out[n].sin_addr) != 1) return -1;
        n++;
    }
    return n;
}

/* One connector: `share` connections from connection number `offset` on. */
static void connect_batches(long share, long offset, int nsrc, int ndst) {
    int one = 1, fds[BATCH];
    struct pollfd pfd[BATCH];
    long npairs = (long)nsrc * ndst;
    for (long j = 0; j < share;) {
        int b = 0;
        for (; b < BATCH && j < share; b++, j++) {
            long pair = (offset + j) % npairs;
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (s < 0) die("socket");
            setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (bind(s, (void *)&srcs[pair / ndst], sizeof srcs[0])) die("bind");
            if (connect(s, (void *)&dsts[pair % ndst], sizeof dsts[0]) && errno != EINPROGRESS)
                die("connect");
            fds[b] = s;
            pfd[b] = (struct pollfd){.fd = s, .events = POLLOUT};
        }
        for (int left = b; left > 0;) {
            if (poll(pfd, b, 5000) <= 0) die("poll: a batch did not complete in 5 s");
            for (int k = 0; k < b; k++) {
                if (pfd[k].fd < 0 || !pfd[k].revents) continue;
                if (pfd[k].revents & (POLLERR | POLLHUP)) die("connect: refused or reset");
                pfd[k].fd = -fds[k] - 1;  /* done: poll() skips negative descriptors */
                left--;
            }
        }
    }
}

static int target_mode(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s --target N PER_WORKER SRC[,SRC...] IP:PORT[,...]\n", argv[0]);
        return 2;
    }
    long n = atol(argv[2]), per = atol(argv[3]);
    int nsrc = parse_list(argv[4], srcs, 0), ndst = parse_list(argv[5], dsts, 1);
    if (nsrc <= 0 || ndst <= 0 || (long)nsrc * ndst > MAX_PAIRS) {
        fprintf(stderr, "bad sources or targets\n");
        return 2;
    }
    long workers = (n + per - 1) / per;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int go[2], done[2];
    if (pipe(go) || pipe(done)) die("pipe");
    pid_t *pids = calloc(workers, sizeof *pids);
    long offset = 0;
    for (long w = 0; w < workers; w++) {
        long share = n / workers + (w < n % workers);
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid) { pids[w] = pid; offset += share; continue; }
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) < 0) die("read");
        connect_batches(share, offset, nsrc, ndst);
        if (write(done[1], "x", 1) != 1) die("write");
        pause();
        _exit(0);
    }
    close(go[0]);
    double t0 = now();
    close(go[1]);
    for (long w = 0; w < workers; w++) {
        char c;
        if (read(done[0], &c, 1) != 1) die("read done");
    }
    double t = now() - t0;
    printf("%ld connections in %.3f s: %.0f/s (%ld connect processes, %d x %d pairs)\n",
           n, t, n / t, workers, nsrc, ndst);
    for (long w = 0; w < workers; w++) kill(pids[w], SIGKILL);
    while (wait(NULL) > 0) {}
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--target")) return target_mode(argc, argv);
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
