/*
 * stress: a small load generator with the command line of the classic `stress` tool,
 * so task specs written for it (Charmander's stress60mb) run unchanged on berth.
 *
 *   stress [--cpu N] [--vm N] [--vm-bytes SIZE] [--vm-hang S] [--timeout T] [-q]
 *
 * --cpu workers spin on arithmetic. --vm workers allocate SIZE (default 256M; suffixes
 * B, K, M, G), write every page so the memory is really resident, then hold it and touch
 * every page again every --vm-hang seconds (default 1), so the resident set stays put
 * without burning a core. --timeout T (suffixes s, m, h, d) ends the run with exit 0;
 * without it the run lasts until a signal. SIGTERM or SIGINT stops every worker at once
 * and exits 128+signal, which matters because the program is PID 1 in its container and
 * would otherwise ignore SIGTERM until Docker's grace period ran out.
 *
 * Built with `gcc -static -O2` by scripts/local-images.sh into a FROM scratch image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 4096

static pid_t workers[MAX_WORKERS];
static int n_workers;
static volatile sig_atomic_t stop_signal;

static void usage(FILE *out) {
    fprintf(out,
            "usage: stress [--cpu N] [--vm N] [--vm-bytes SIZE] [--vm-hang S] "
            "[--timeout T] [-q]\n"
            "  -c, --cpu N        spin N workers on the CPU\n"
            "  -m, --vm N         N workers that allocate, touch and hold memory\n"
            "      --vm-bytes B   bytes per vm worker (default 256M; B, K, M, G suffixes)\n"
            "      --vm-hang S    seconds between re-touches of the held memory (default 1)\n"
            "  -t, --timeout T    stop after T (s, m, h, d suffixes) and exit 0\n"
            "  -q, --quiet        print nothing but errors\n");
}

static int parse_count(const char *text, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < 0 || value > MAX_WORKERS) return -1;
    *out = value;
    return 0;
}

static int parse_bytes(const char *text, long long *out) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || end == text || value < 0) return -1;
    long long scale = 1;
    switch (*end) {
        case '\0': case 'b': case 'B': break;
        case 'k': case 'K': scale = 1024LL; break;
        case 'm': case 'M': scale = 1024LL * 1024; break;
        case 'g': case 'G': scale = 1024LL * 1024 * 1024; break;
        default: return -1;
    }
    if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2])) return -1;
    *out = (long long)(value * (double)scale);
    return 0;
}

static int parse_seconds(const char *text, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || value < 0) return -1;
    long scale = 1;
    switch (*end) {
        case '\0': case 's': break;
        case 'm': scale = 60; break;
        case 'h': scale = 3600; break;
        case 'd': scale = 86400; break;
        default: return -1;
    }
    if (*end && end[1]) return -1;
    *out = value * scale;
    return 0;
}

static void die_with_parent(pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0); /* the parent is already gone */
}

static void cpu_worker(void) {
    volatile double x = 1.0;
    for (;;) {
        for (int i = 0; i < 1000000; i++) x = x * 1.000001 + 0.000001;
        if (x > 1e300) x = 1.0;
    }
}

static void vm_worker(long long bytes, long hang) {
    long page = sysconf(_SC_PAGESIZE);
    if (bytes <= 0) pause();
    char *block = malloc((size_t)bytes);
    if (!block) {
        fprintf(stderr, "stress: error: cannot allocate %lld bytes: %s\n", bytes,
                strerror(errno));
        _exit(1);
    }
    for (unsigned char round = 1;; round++) {
        for (long long off = 0; off < bytes; off += page) block[off] = (char)round;
        block[bytes - 1] = (char)round;
        if (hang > 0) {
            struct timespec rest = {.tv_sec = hang, .tv_nsec = 0};
            while (nanosleep(&rest, &rest) == -1 && errno == EINTR) {}
        }
    }
}

static void on_signal(int sig) { stop_signal = sig; }

static void stop_workers(void) {
    for (int i = 0; i < n_workers; i++) kill(workers[i], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
}

static int spawn(void (*body)(void *), void *arg) {
    if (n_workers >= MAX_WORKERS) return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        die_with_parent(parent);
        body(arg);
        _exit(0);
    }
    workers[n_workers++] = pid;
    return 0;
}

struct vm_args { long long bytes; long hang; };
static void run_cpu(void *arg) { (void)arg; cpu_worker(); }
static void run_vm(void *arg) {
    struct vm_args *vm = arg;
    vm_worker(vm->bytes, vm->hang);
}

int main(int argc, char **argv) {
    long cpu = 0, vm = 0, timeout = -1, hang = 1;
    long long vm_bytes = 256LL * 1024 * 1024;
    int quiet = 0;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) { usage(stdout); return 0; }
        if (!strcmp(opt, "-q") || !strcmp(opt, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(opt, "-v") || !strcmp(opt, "--verbose")) { continue; }
        if (!val) {
            fprintf(stderr, "stress: error: %s needs a value\n", opt);
            usage(stderr);
            return 1;
        }
        if (!strcmp(opt, "-c") || !strcmp(opt, "--cpu")) bad = parse_count(val, &cpu);
        else if (!strcmp(opt, "-m") || !strcmp(opt, "--vm")) bad = parse_count(val, &vm);
        else if (!strcmp(opt, "--vm-bytes")) bad = parse_bytes(val, &vm_bytes);
        else if (!strcmp(opt, "--vm-hang")) bad = parse_seconds(val, &hang);
        else if (!strcmp(opt, "-t") || !strcmp(opt, "--timeout"))
            bad = parse_seconds(val, &timeout);
        else {
            fprintf(stderr, "stress: error: unknown option %s\n", opt);
            usage(stderr);
            return 1;
        }
        if (bad) {
            fprintf(stderr, "stress: error: %s: %s is not a valid value\n", opt, val);
            return 1;
        }
        i++;
    }
    if (cpu + vm == 0) {
        fprintf(stderr, "stress: error: nothing to do; give --cpu N and/or --vm N\n");
        usage(stderr);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);

    if (!quiet) {
        printf("stress: info: [%d] dispatching hogs: %ld cpu, 0 io, %ld vm, 0 hdd\n",
               (int)getpid(), cpu, vm);
        fflush(stdout);
    }
    struct vm_args vm_args = {vm_bytes, hang};
    for (long i = 0; i < cpu; i++)
        if (spawn(run_cpu, NULL)) { perror("stress: fork"); stop_workers(); return 1; }
    for (long i = 0; i < vm; i++)
        if (spawn(run_vm, &vm_args)) { perror("stress: fork"); stop_workers(); return 1; }
    if (timeout >= 0) alarm((unsigned)(timeout > 0 ? timeout : 1));

    int status = 0;
    while (!stop_signal) {
        pid_t pid = wait(&status);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) break;
        /* A worker that ends on its own is a failure (e.g. out of memory). */
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        fprintf(stderr, "stress: FAIL: worker %d ended with code %d\n", (int)pid, code);
        stop_workers();
        return code ? code : 1;
    }
    stop_workers();
    if (stop_signal == SIGALRM) {
        if (!quiet) printf("stress: info: [%d] successful run completed\n", (int)getpid());
        return 0;
    }
    return 128 + stop_signal;
}
