// Load generator: agent sockets, in C. The same job and the same stdin/stdout
// protocol as sockets.ts (the fallback where there is no C compiler): open `perOrg`
// sockets to each organization, count every frame, detect duplicates by event id,
// answer pings, time each new_message on the first `timedPerOrg` sockets of each
// organization from its row's created_at (the writer's clock_timestamp(), same
// clock), and on `resume` drop every socket and bring it back at once with ?since=.
//
// Why C: on this 2-core machine the clients share the CPUs with the server they
// measure. Node spends several times the CPU per received frame (a JavaScript
// callback and a buffer per read); here a read is one syscall and a loop over bytes.
//
// Arguments (a text file, argv[1]):
//   line 1: host port perOrg timedPerOrg concurrency tickMicros
//   line 2: source addresses, space-separated
//   then one line per organization: name token
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum state { IDLE, CONNECTING, HANDSHAKE, OPEN, CLOSED };

typedef struct {
  int fd;
  int org;
  enum state state;
  int timed;
  long long last_id;
  unsigned char *pending;
  size_t pending_len, pending_cap;
} agent;

static char host[64];
static int port, per_org, timed_per_org, concurrency, tick_us;
static struct in_addr sources[64];
static int n_sources;
static char (*org_names)[72];
static char **org_tokens;
static int n_orgs;
static agent *agents;
static int n_agents;

static long long frames, new_messages, duplicates, unexpected_closes;
static double *latencies;
static size_t n_latencies, latencies_cap;
static int closing;
static int ep;

// One openAll at a time: the first connect, or a resume.
static int resuming, next_agent, in_flight, done_count, failed;
static double started_ms;
#define MAX_WHY 16
static char why_text[MAX_WHY][48];
static int why_count[MAX_WHY], n_why;

#define BUF_CAP (4 << 20)
static unsigned char buf[BUF_CAP];

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what) {
  printf("{\"error\":\"%s: %s\"}\n", what, strerror(errno));
  fflush(stdout);
  exit(1);
}

static void count_why(const char *text) {
  for (int i = 0; i < n_why; i++)
    if (!strcmp(why_text[i], text)) return (void)why_count[i]++;
  if (n_why < MAX_WHY) {
    snprintf(why_text[n_why], sizeof why_text[0], "%s", text);
    why_count[n_why++] = 1;
  }
}

static void start_next(void);

static void drop(agent *a) {
  if (a->fd >= 0) close(a->fd);  // close() also takes it out of epoll
  a->fd = -1;
  a->state = CLOSED;
  a->pending_len = 0;
}

/** The end of a handshake, either way; starts the next one. */
static void handshake_done(agent *a, const char *failure) {
  in_flight--;
  done_count++;
  if (failure) {
    failed++;
    count_why(failure);
    drop(a);
  }
  start_next();
}

static void open_agent(int i) {
  agent *a = &agents[i];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Let connect() pick the port per destination: 16 addresses x 28k ports.
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr = sources[i % n_sources]};
  if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0) die("bind");
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &to.sin_addr);
  a->fd = fd;
  a->state = CONNECTING;
  a->pending_len = 0;
  in_flight++;
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
    handshake_done(a, errno == ECONNREFUSED ? "ECONNREFUSED" : errno == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : "connect failed");
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void report_open_all(void) {
  double ms = now_ms() - started_ms;
  if (resuming) printf("{\"resumed\":%d,\"ms\":%.3f,\"failed\":%d,\"why\":{", n_agents, ms, failed);
  else printf("{\"ready\":true,\"sockets\":%d,\"connectMs\":%.3f,\"failed\":%d,\"why\":{", n_agents, ms, failed);
  for (int i = 0; i < n_why; i++) printf("%s\"%s\":%d", i ? "," : "", why_text[i], why_count[i]);
  printf("}}\n");
  fflush(stdout);
}

static void start_next(void) {
  while (in_flight < concurrency && next_agent < n_agents) open_agent(next_agent++);
  if (done_count == n_agents) {
    report_open_all();
    done_count = -1;  // reported
  }
}

static void open_all(int resume) {
  resuming = resume;
  next_agent = in_flight = done_count = failed = n_why = 0;
  started_ms = now_ms();
  start_next();
}

static void on_connected(agent *a, int i) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) {
    return handshake_done(a, err == ECONNREFUSED ? "ECONNREFUSED" : err == ETIMEDOUT ? "ETIMEDOUT" : "connect failed");
  }
  char req[8192];
  int n = snprintf(req, sizeof req,
                   "GET /ws/chat/%s/?token=%s", org_names[a->org], org_tokens[a->org]);
  if (resuming) n += snprintf(req + n, sizeof req - n, "&since=%lld", a->last_id);
  n += snprintf(req + n, sizeof req - n,
                " HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                host, port);
  if (write(a->fd, req, n) != n) return handshake_done(a, "write failed");
  a->state = HANDSHAKE;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
  epoll_ctl(ep, EPOLL_CTL_MOD, a->fd, &ev);
}

static double wall_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/** The data's created_at ("2026-11-22T16:39:27.797088+00:00", UTC, six digits) in µs since the epoch; 0 if absent. */
static double created_at_us(const unsigned char *p, size_t len) {
  static const char key[] = "created_at\\\":\\\"";  // created_at\":\" inside the data string
  const unsigned char *v = memmem(p, len, key, sizeof key - 1);
  if (!v || (size_t)(p + len - (v + sizeof key - 1)) < 26) return 0;
  v += sizeof key - 1;
  struct tm tm = {0};
  int micros;
  if (sscanf((const char *)v, "%4d-%2d-%2dT%2d:%2d:%2d.%6d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &micros) != 7) return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (double)timegm(&tm) * 1e6 + micros;
}

static void on_frame(agent *a, const unsigned char *p, size_t len, double at) {
  frames++;
  // ...,"id":"123"}: the digits before the closing '"}'.
  long long id = 0, scale = 1;
  for (long i = (long)len - 3; i >= 0 && p[i] >= '0' && p[i] <= '9'; i--, scale *= 10) id += (p[i] - '0') * scale;
  if (id <= a->last_id) duplicates++;
  else a->last_id = id;
  if (len <= 9 || p[9] != 'n') return;  // {"type":"new_message"
  new_messages++;
  if (!a->timed) return;
  double created = created_at_us(p, len);
  if (!created) return;
  if (n_latencies == latencies_cap) {
    latencies_cap = latencies_cap ? 2 * latencies_cap : 4096;
    latencies = realloc(latencies, latencies_cap * sizeof *latencies);
    if (!latencies) die("realloc");
  }
  latencies[n_latencies++] = (at - created) / 1000;
}

/** Parses whole frames from p; returns how many bytes it used. */
static size_t on_bytes(agent *a, unsigned char *p, size_t n, double at) {
  size_t off = 0;
  while (n - off >= 2) {
    int opcode = p[off] & 0x0f;
    uint64_t len = p[off + 1] & 0x7f;
    size_t header = 2;
    if (len == 126) {
      if (n - off < 4) break;
      len = (uint64_t)p[off + 2] << 8 | p[off + 3];
      header = 4;
    } else if (len == 127) {
      if (n - off < 10) break;
      len = 0;
      for (int k = 0; k < 8; k++) len = len << 8 | p[off + 2 + k];
      header = 10;
    }
    if (len > BUF_CAP / 2) {
      errno = EMSGSIZE;
      die("frame too large");
    }
    if (n - off < header + len) break;
    unsigned char *start = p + off + header;
    if (opcode == 1) on_frame(a, start, len, at);
    else if (opcode == 9 && len < 126) {  // pong, masked with 0
      unsigned char pong[6 + 125] = {0x8a, (unsigned char)(0x80 | len), 0, 0, 0, 0};
      memcpy(pong + 6, start, len);
      (void)!write(a->fd, pong, 6 + len);
    }
    off += header + len;
  }
  return off;
}

static void on_readable(agent *a) {
  memcpy(buf, a->pending, a->pending_len);
  ssize_t r = read(a->fd, buf + a->pending_len, BUF_CAP - a->pending_len);
  double at = a->timed ? wall_us() : 0;
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    if (a->state == HANDSHAKE) return handshake_done(a, "closed before the upgrade");
    if (!closing) unexpected_closes++;
    return drop(a);
  }
  size_t n = a->pending_len + (size_t)r, off = 0;
  if (a->state == HANDSHAKE) {
    unsigned char *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!end) goto keep;
    if (n < 12 || memcmp(buf + 9, "101", 3)) {
      char why[16];
      snprintf(why, sizeof why, "HTTP %.3s", n >= 12 ? (char *)buf + 9 : "???");
      return handshake_done(a, why);
    }
    a->state = OPEN;
    off = (size_t)(end - buf) + 4;
    handshake_done(a, NULL);
  }
  off += on_bytes(a, buf + off, n - off, at);
keep:
  a->pending_len = n - off;
  if (a->pending_len > a->pending_cap) {
    a->pending_cap = a->pending_len;
    a->pending = realloc(a->pending, a->pending_cap);
    if (!a->pending) die("realloc");
  }
  memmove(a->pending, buf + off, a->pending_len);
}

static void on_command(const char *line) {
  if (!strcmp(line, "report")) {
    printf("{\"frames\":%lld,\"newMessages\":%lld,\"duplicates\":%lld,\"unexpectedCloses\":%lld,\"latencies\":[",
           frames, new_messages, duplicates, unexpected_closes);
    for (size_t i = 0; i < n_latencies; i++) printf("%s%.3f", i ? "," : "", latencies[i]);
    printf("]}\n");
  } else if (!strcmp(line, "reset")) {
    frames = new_messages = duplicates = unexpected_closes = 0;
    n_latencies = 0;
    printf("{\"reset\":true}\n");
  } else if (!strcmp(line, "resume")) {
    // Every socket drops and comes back at once, each from the last event it saw.
    for (int i = 0; i < n_agents; i++) drop(&agents[i]);
    open_all(1);
  } else if (!strcmp(line, "close")) {
    closing = 1;
    for (int i = 0; i < n_agents; i++) drop(&agents[i]);
    printf("{\"closed\":true}\n");
    fflush(stdout);
    exit(0);
  }
  fflush(stdout);
}

static void read_args(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die(path);
  if (fscanf(f, "%63s %d %d %d %d %d\n", host, &port, &per_org, &timed_per_org, &concurrency, &tick_us) != 6) die("arguments: line 1");
  char line[4096];
  if (!fgets(line, sizeof line, f)) die("arguments: line 2");
  for (char *s = strtok(line, " \n"); s && n_sources < 64; s = strtok(NULL, " \n")) inet_pton(AF_INET, s, &sources[n_sources++]);
  int cap = 16;
  org_names = malloc(cap * sizeof *org_names);
  org_tokens = malloc(cap * sizeof *org_tokens);
  char name[72], token[4096];
  while (fscanf(f, "%71s %4095s\n", name, token) == 2) {
    if (n_orgs == cap) {
      cap *= 2;
      org_names = realloc(org_names, cap * sizeof *org_names);
      org_tokens = realloc(org_tokens, cap * sizeof *org_tokens);
    }
    strcpy(org_names[n_orgs], name);
    org_tokens[n_orgs++] = strdup(token);
  }
  fclose(f);
  if (!n_sources || !n_orgs) die("arguments: no sources or organizations");
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  read_args(argv[1]);
  struct rlimit files;
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  n_agents = n_orgs * per_org;
  agents = calloc(n_agents, sizeof *agents);
  for (int i = 0, k = 0; i < n_orgs; i++)
    for (int j = 0; j < per_org; j++, k++) agents[k] = (agent){.fd = -1, .org = i, .state = IDLE, .timed = j < timed_per_org};

  ep = epoll_create1(0);
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  open_all(0);

  static char cmd[256];
  size_t cmd_len = 0;
  struct epoll_event events[1024];
  for (;;) {
    int n = epoll_wait(ep, events, 1024, -1);
    // Between connects, a client with a tick reads what has come in once per tick,
    // as a NIC coalescing its interrupts would hand it over. On loopback the sender
    // pays for waking a sleeping receiver (an IPI: on a VM, an exit); a server's
    // frames to clients on other machines wake no one.
    if (tick_us > 0 && done_count == -1 && n < 1024) {
      struct timespec tick = {.tv_sec = 0, .tv_nsec = tick_us * 1000L};
      nanosleep(&tick, NULL);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int e = 0; e < n; e++) {
      uint32_t i = events[e].data.u32;
      if (i == UINT32_MAX) {
        ssize_t r = read(0, cmd + cmd_len, sizeof cmd - 1 - cmd_len);
        if (r <= 0) exit(0);  // the bench has gone
        cmd_len += (size_t)r;
        char *nl;
        while ((nl = memchr(cmd, '\n', cmd_len))) {
          *nl = 0;
          on_command(cmd);
          cmd_len -= (size_t)(nl + 1 - cmd);
          memmove(cmd, nl + 1, cmd_len);
        }
        if (cmd_len == sizeof cmd - 1) cmd_len = 0;
        // A resume reopened agents under the same indexes: the rest of this batch may
        // be about their old sockets. Level-triggered, what is still ready comes again.
        break;
      }
      agent *a = &agents[i];
      if (a->fd < 0) continue;
      if (a->state == CONNECTING) on_connected(a, (int)i);
      else on_readable(a);
    }
  }
}
