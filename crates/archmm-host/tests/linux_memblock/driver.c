// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * linux-memblock: Linux 6.1's own mm/memblock.c behind archmm's memblock script language.
 *
 * This file is archmm's; it contains no Linux code. It is compiled together with the
 * memblock.c of a Linux 6.1 tree (linux-source-6.1) and the user-space shims of that tree's
 * tools/testing/memblock, as tests/memblock_vs_linux.rs does, so that the same script can be
 * run through Linux's memblock and through archmm's and the results compared.
 *
 * memblock.c is #included, so that a `reset` can put back its static state (the inline
 * region arrays, memblock_can_resize, system_has_some_mirror) between scripts.
 *
 * Memory: in this build physical addresses are process addresses (__va is the identity), and
 * memblock writes to what it allocates (zeroing, grown region arrays). The driver maps one
 * window of anonymous memory (--window BASE SIZE, default 0x100000000000 1G, MAP_NORESERVE)
 * and refuses, with exit status 3, to add memory outside it; everything memblock can touch
 * lies inside memory, so inside the window.
 *
 * The script language is archmm's (`archmm memblock`, crates/archmm-host/src/script.rs)
 * without `expect`: numbers in hex or decimal with an optional K/M/G/T suffix, `x` for the
 * no-node id (MAX_NUMNODES), flags as numbers or names joined by `|`, `#` comments.
 * Output is archmm's: each allocation prints its address or NULL, `dump` and `dump_all`
 * print the arrays, a refused call prints `error: line N: CALL: ...`. With --batch, every
 * `reset` also prints `=== reset`, so one process can run many scripts.
 *
 * Kernel configuration modelled: CONFIG_NUMA with CONFIG_NODES_SHIFT=10 (MAX_NUMNODES 1024,
 * Debian's x86_64), SMP_CACHE_BYTES 64, PAGE_SIZE 4K, kernelcore=mirror (so mark_mirror
 * takes effect, as archmm's script runner also assumes), movable_node off.
 */
#include <linux/cache.h>
#undef SMP_CACHE_BYTES
#define SMP_CACHE_BYTES 64

#include "memblock.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include <setjmp.h>
#include <assert.h>

bool movable_node_enabled;

/*
 * The script's output. memblock.c's own messages (pr_warn_ratelimited is printf in the
 * shims: "Could not allocate ... mirrored memory") go to standard error instead, as
 * archmm's go to its log.
 */
static FILE *out;

/*
 * memblock.c's BUG_ON() is assert() in the shims. A BUG is Linux's answer to some inputs
 * (e.g. no room below the limit to grow the reserved array while growing the memory
 * array), so it is output, not a crash of the driver: it prints `BUG: FILE:LINE: COND`,
 * and with --batch the rest of the script is skipped up to the next `reset` (memblock is
 * left half-updated, as a kernel would be).
 */
static jmp_buf bug_env;
static int bug_armed;

void __assert_fail(const char *cond, const char *file, unsigned int line, const char *fn)
{
	fprintf(out, "BUG: %s:%u: %s\n", file, line, cond);
	if (bug_armed)
		longjmp(bug_env, 1);
	fflush(out);
	exit(1);
}

static unsigned long long window_base = 0x100000000000ULL;
static unsigned long long window_size = 1ULL << 30;
static int batch;

/* Put memblock back to its boot state, as a freshly loaded kernel has it. */
static void reset_state(void)
{
	memset(memblock_memory_init_regions, 0, sizeof(memblock_memory_init_regions));
	memset(memblock_reserved_init_regions, 0, sizeof(memblock_reserved_init_regions));
	memblock.memory.regions = memblock_memory_init_regions;
	memblock.memory.cnt = 1;
	memblock.memory.max = INIT_MEMBLOCK_MEMORY_REGIONS;
	memblock.memory.total_size = 0;
	memblock.reserved.regions = memblock_reserved_init_regions;
	memblock.reserved.cnt = 1;
	memblock.reserved.max = INIT_MEMBLOCK_RESERVED_REGIONS;
	memblock.reserved.total_size = 0;
	memblock.bottom_up = false;
	memblock.current_limit = MEMBLOCK_ALLOC_ANYWHERE;
	memblock_can_resize = 0;
	memblock_memory_in_slab = 0;
	memblock_reserved_in_slab = 0;
	system_has_some_mirror = false;
	mirrored_kernelcore = true;
	movable_node_enabled = false;
}

/* `0x1f`, `31`, `4K`, `0x10M`; 1 on success. */
static int parse_num(const char *s, unsigned long long *out)
{
	char body[64];
	size_t n = strlen(s);
	int shift = 0;
	unsigned long long v;
	char *end;

	if (n == 0 || n >= sizeof(body))
		return 0;
	memcpy(body, s, n + 1);
	switch (body[n - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	}
	if (shift)
		body[--n] = 0;
	if (n == 0 || body[0] == '-' || body[0] == '+')
		return 0;
	errno = 0;
	if (body[0] == '0' && (body[1] == 'x' || body[1] == 'X'))
		v = strtoull(body + 2, &end, 16);
	else
		v = strtoull(body, &end, 10);
	if (errno || *end || end == body)
		return 0;
	if (shift && v > (~0ULL >> shift))
		return 0;
	*out = v << shift;
	return 1;
}

static int parse_nid(const char *s, int *out)
{
	unsigned long long v;

	if (!strcmp(s, "x")) {
		*out = MAX_NUMNODES;
		return 1;
	}
	if (s[0] == '-') {
		if (!parse_num(s + 1, &v) || v > 0x7fffffff)
			return 0;
		*out = -(int)v;
		return 1;
	}
	if (!parse_num(s, &v) || v > 0x7fffffff)
		return 0;
	*out = (int)v;
	return 1;
}

static int parse_flags(const char *s, unsigned int *out)
{
	static const struct { const char *name; unsigned int v; } named[] = {
		{ "NONE", 0 }, { "HOTPLUG", 0x1 }, { "MIRROR", 0x2 }, { "NOMAP", 0x4 },
		{ "DRIVER_MANAGED", 0x8 }, { "DRV_MNG", 0x8 },
	};
	char buf[128], *part, *save;
	unsigned long long v;
	unsigned int f = 0;

	if (parse_num(s, &v)) {
		if (v > 0xffffffffULL)
			return 0;
		*out = (unsigned int)v;
		return 1;
	}
	if (strlen(s) >= sizeof(buf))
		return 0;
	strcpy(buf, s);
	for (part = strtok_r(buf, "|", &save); part; part = strtok_r(NULL, "|", &save)) {
		size_t i;

		for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
			if (!strcasecmp(part, named[i].name))
				break;
		if (i == sizeof(named) / sizeof(named[0]))
			return 0;
		f |= named[i].v;
	}
	*out = f;
	return 1;
}

static void print_hex(unsigned long long v)
{
	fprintf(out, "0x%llx", v);
}

static void print_nid(int nid)
{
	if (nid == MAX_NUMNODES)
		fprintf(out, "%4s ", "x");
	else
		fprintf(out, "%4d ", nid);
}

/* debugfs' memory/reserved files in the newer format archmm prints (node, lowest flag). */
static void dump_debugfs(struct memblock_type *t)
{
	static const char *const names[] = { "HOTPLUG", "MIRROR", "NOMAP", "DRV_MNG" };
	unsigned long i;

	fprintf(out, "%s: cnt=%lu max=%lu total=", t->name, t->cnt, t->max);
	print_hex(t->total_size);
	fprintf(out, "\n");
	for (i = 0; i < t->cnt; i++) {
		struct memblock_region *r = &t->regions[i];

		fprintf(out, "%4lu: 0x%016llx..0x%016llx ", i, (unsigned long long)r->base,
		       (unsigned long long)(r->base + r->size - 1));
		print_nid(r->nid);
		if (!r->flags) {
			fprintf(out, "NONE\n");
		} else {
			int bit = __builtin_ctz(r->flags);

			fprintf(out, "%s\n", bit < 4 ? names[bit] : "UNKNOWN");
		}
	}
}

/* memblock_dump_all()'s text, with every field: archmm's write_dump_all. */
static void dump_all(void)
{
	struct memblock_type *types[2] = { &memblock.memory, &memblock.reserved };
	int k;

	fprintf(out, "MEMBLOCK configuration:\n memory size = 0x%016llx reserved size = 0x%016llx\n",
	       (unsigned long long)memblock.memory.total_size,
	       (unsigned long long)memblock.reserved.total_size);
	for (k = 0; k < 2; k++) {
		struct memblock_type *t = types[k];
		unsigned long i;

		fprintf(out, " %s.cnt  = ", t->name);
		print_hex(t->cnt);
		fprintf(out, "\n");
		for (i = 0; i < t->cnt; i++) {
			struct memblock_region *r = &t->regions[i];

			fprintf(out, " %s[", t->name);
			print_hex(i);
			fprintf(out, "]\t[0x%016llx-0x%016llx], 0x%016llx bytes", (unsigned long long)r->base,
			       (unsigned long long)(r->base + r->size - 1), (unsigned long long)r->size);
			if (r->nid != MAX_NUMNODES)
				fprintf(out, " on node %d", r->nid);
			fprintf(out, " flags: ");
			print_hex(r->flags);
			fprintf(out, "\n");
		}
	}
}

static int lineno;

/*
 * Linux 6.1 can corrupt its own arrays (a grown memory array is reserved only after the
 * old one is freed, and freeing it may grow `reserved` right on top of the new one). Such
 * a state is reported like a BUG: regions out of order, overlapping, empty, or more of
 * them than fit.
 */
static void check_arrays(void)
{
	struct memblock_type *types[2] = { &memblock.memory, &memblock.reserved };
	int k;

	for (k = 0; k < 2; k++) {
		struct memblock_type *t = types[k];
		unsigned long i;

		if (t->cnt > t->max || t->cnt == 0)
			__assert_fail("memblock array count out of range", "linux-memblock", lineno, t->name);
		for (i = 0; i < t->cnt; i++) {
			struct memblock_region *r = &t->regions[i];

			if ((r->size == 0 && t->cnt != 1) ||
			    (i > 0 && r->base < t->regions[i - 1].base + t->regions[i - 1].size))
				__assert_fail("memblock array corrupted", "linux-memblock", lineno, t->name);
		}
	}
}

static void syntax(const char *msg, const char *line)
{
	fprintf(out, "error: line %d: %s: %s\n", lineno, msg, line);
}

static void inside_window_or_die(unsigned long long base, unsigned long long size)
{
	if (base < window_base || size > window_size || base - window_base > window_size - size) {
		fprintf(stderr, "linux-memblock: line %d: memory [%#llx, +%#llx) is outside the mapped window [%#llx, +%#llx)\n",
			lineno, base, size, window_base, window_size);
		exit(3);
	}
}

static int pow2_or_zero(unsigned long long a)
{
	return (a & (a - 1)) == 0;
}

static void alloc_result(unsigned long long a)
{
	if (a)
		fprintf(out, "0x%016llx\n", a);
	else
		fprintf(out, "NULL\n");
}

static void run_line(char *raw)
{
	char *words[16], *save, *w, *hash, copy[4096];
	int n = 0;
	unsigned long long v[5] = { 0 };
	int ret = 0, i, nid = NUMA_NO_NODE;
	const char *cmd;

	hash = strchr(raw, '#');
	if (hash)
		*hash = 0;
	snprintf(copy, sizeof(copy), "%s", raw);
	for (w = strtok_r(raw, " \t\r\n", &save); w && n < 16; w = strtok_r(NULL, " \t\r\n", &save))
		words[n++] = w;
	if (n == 0)
		return;
	cmd = words[0];
	{
		/* strip the line for messages */
		char *e = copy + strlen(copy);

		while (e > copy && isspace((unsigned char)e[-1]))
			*--e = 0;
	}

#define ARGS(k) do { if (n - 1 != (k)) { syntax("wrong number of arguments", copy); return; } \
		for (i = 0; i < (k); i++) if (!parse_num(words[1 + i], &v[i])) { syntax("bad number", copy); return; } } while (0)

	if (!strcmp(cmd, "reset")) {
		if (n != 1) { syntax("wrong number of arguments", copy); return; }
		reset_state();
		if (batch) {
			fprintf(out, "=== reset\n");
			lineno = 0;
		}
		return;
	} else if (!strcmp(cmd, "add")) {
		ARGS(2);
		inside_window_or_die(v[0], v[1]);
		ret = memblock_add(v[0], v[1]);
	} else if (!strcmp(cmd, "add_node")) {
		unsigned int fl;

		if (n != 5 || !parse_num(words[1], &v[0]) || !parse_num(words[2], &v[1]) ||
		    !parse_nid(words[3], &nid) || !parse_flags(words[4], &fl)) {
			syntax("add_node takes BASE SIZE NID FLAGS", copy);
			return;
		}
		inside_window_or_die(v[0], v[1]);
		if (nid < NUMA_NO_NODE || nid > MAX_NUMNODES) {
			/* archmm refuses node ids memblock could not store meaningfully */
			fprintf(out, "error: line %d: add_node: node id %d is out of range\n", lineno, nid);
			return;
		}
		ret = memblock_add_node(v[0], v[1], nid, fl);
	} else if (!strcmp(cmd, "reserve") || !strcmp(cmd, "reserve_kern")) {
		/* 6.1 has no memblock_reserve_kern: the kernel image is a plain reservation */
		ARGS(2);
		ret = memblock_reserve(v[0], v[1]);
	} else if (!strcmp(cmd, "remove")) {
		ARGS(2);
		ret = memblock_remove(v[0], v[1]);
	} else if (!strcmp(cmd, "free") || !strcmp(cmd, "phys_free")) {
		ARGS(2);
		ret = memblock_phys_free(v[0], v[1]);
	} else if (!strcmp(cmd, "mark_hotplug")) {
		ARGS(2);
		ret = memblock_mark_hotplug(v[0], v[1]);
	} else if (!strcmp(cmd, "clear_hotplug")) {
		ARGS(2);
		ret = memblock_clear_hotplug(v[0], v[1]);
	} else if (!strcmp(cmd, "mark_mirror")) {
		ARGS(2);
		ret = memblock_mark_mirror(v[0], v[1]);
	} else if (!strcmp(cmd, "mark_nomap")) {
		ARGS(2);
		ret = memblock_mark_nomap(v[0], v[1]);
	} else if (!strcmp(cmd, "clear_nomap")) {
		ARGS(2);
		ret = memblock_clear_nomap(v[0], v[1]);
	} else if (!strcmp(cmd, "set_node")) {
		struct memblock_type *t;

		if (n != 5 || !parse_num(words[1], &v[0]) || !parse_num(words[2], &v[1]) ||
		    !parse_nid(words[4], &nid)) {
			syntax("set_node takes BASE SIZE memory|reserved NID", copy);
			return;
		}
		if (!strcmp(words[3], "memory"))
			t = &memblock.memory;
		else if (!strcmp(words[3], "reserved"))
			t = &memblock.reserved;
		else {
			syntax("set_node takes BASE SIZE memory|reserved NID", copy);
			return;
		}
		if (nid < NUMA_NO_NODE || nid > MAX_NUMNODES) {
			fprintf(out, "error: line %d: set_node: node id %d is out of range\n", lineno, nid);
			return;
		}
		ret = memblock_set_node(v[0], v[1], t, nid);
	} else if (!strcmp(cmd, "set_bottom_up")) {
		ARGS(1);
		if (v[0] > 1) { syntax("set_bottom_up takes 0 or 1", copy); return; }
		memblock_set_bottom_up(v[0]);
	} else if (!strcmp(cmd, "set_current_limit")) {
		ARGS(1);
		memblock_set_current_limit(v[0]);
	} else if (!strcmp(cmd, "allow_resize")) {
		ARGS(0);
		memblock_allow_resize();
	} else if (!strcmp(cmd, "trim_memory")) {
		ARGS(1);
		if (!v[0] || !pow2_or_zero(v[0])) {
			fprintf(out, "error: line %d: trim_memory: alignment %#llx is not a power of two\n", lineno, v[0]);
			return;
		}
		memblock_trim_memory(v[0]);
	} else if (!strcmp(cmd, "alloc") || !strcmp(cmd, "alloc_raw") || !strcmp(cmd, "alloc_from") ||
		   !strcmp(cmd, "phys_alloc_range") || !strcmp(cmd, "alloc_try_nid") ||
		   !strcmp(cmd, "alloc_try_nid_raw") || !strcmp(cmd, "alloc_exact_nid_raw")) {
		int k = !strcmp(cmd, "alloc") || !strcmp(cmd, "alloc_raw") ? 2 :
			!strcmp(cmd, "alloc_from") ? 3 : !strcmp(cmd, "phys_alloc_range") ? 4 : 5;
		unsigned long long a;

		if (n - 1 != k) { syntax("wrong number of arguments", copy); return; }
		for (i = 0; i < k && i < 4; i++)
			if (!parse_num(words[1 + i], &v[i])) { syntax("bad number", copy); return; }
		if (k == 5 && !parse_nid(words[5], &nid)) { syntax("bad node id", copy); return; }
		if (!pow2_or_zero(v[1])) {
			/* Linux would compute garbage in round_down(): refused, as archmm does */
			fprintf(out, "error: line %d: %s: alignment %#llx is not a power of two\n", lineno, cmd, v[1]);
			return;
		}
		if (!strcmp(cmd, "alloc"))
			a = (unsigned long long)(unsigned long)memblock_alloc(v[0], v[1]);
		else if (!strcmp(cmd, "alloc_raw"))
			a = (unsigned long long)(unsigned long)memblock_alloc_raw(v[0], v[1]);
		else if (!strcmp(cmd, "alloc_from"))
			a = (unsigned long long)(unsigned long)memblock_alloc_from(v[0], v[1], v[2]);
		else if (!strcmp(cmd, "phys_alloc_range"))
			a = memblock_phys_alloc_range(v[0], v[1], v[2], v[3]);
		else if (!strcmp(cmd, "alloc_try_nid"))
			a = (unsigned long long)(unsigned long)memblock_alloc_try_nid(v[0], v[1], v[2], v[3], nid);
		else if (!strcmp(cmd, "alloc_try_nid_raw"))
			a = (unsigned long long)(unsigned long)memblock_alloc_try_nid_raw(v[0], v[1], v[2], v[3], nid);
		else
			a = (unsigned long long)(unsigned long)memblock_alloc_exact_nid_raw(v[0], v[1], v[2], v[3], nid);
		alloc_result(a);
		return;
	} else if (!strcmp(cmd, "dump")) {
		ARGS(0);
		dump_debugfs(&memblock.memory);
		dump_debugfs(&memblock.reserved);
		return;
	} else if (!strcmp(cmd, "dump_all")) {
		ARGS(0);
		dump_all();
		return;
	} else if (!strcmp(cmd, "expect")) {
		return; /* archmm's own checks; nothing to run here */
	} else {
		syntax("unknown call", copy);
		return;
	}
	if (ret)
		fprintf(out, "error: line %d: %s: Linux returned %d\n", lineno, cmd, ret);
#undef ARGS
}

int main(int argc, char **argv)
{
	static char line[4096];
	FILE *in = stdin;
	void *p;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--batch")) {
			batch = 1;
		} else if (!strcmp(argv[i], "--window") && i + 2 < argc) {
			if (!parse_num(argv[i + 1], &window_base) || !parse_num(argv[i + 2], &window_size)) {
				fprintf(stderr, "linux-memblock: bad --window\n");
				return 2;
			}
			i += 2;
		} else if (argv[i][0] != '-' || !strcmp(argv[i], "-")) {
			if (strcmp(argv[i], "-")) {
				in = fopen(argv[i], "r");
				if (!in) {
					perror(argv[i]);
					return 2;
				}
			}
		} else {
			fprintf(stderr, "usage: linux-memblock [--batch] [--window BASE SIZE] [SCRIPT|-]\n");
			return 2;
		}
	}
	p = mmap((void *)(unsigned long)window_base, window_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || (unsigned long)p != window_base) {
		fprintf(stderr, "linux-memblock: cannot map the window at %#llx\n", window_base);
		return 2;
	}
	out = fdopen(dup(1), "w");
	if (!out || dup2(2, 1) < 0) {
		perror("linux-memblock: stdout");
		return 2;
	}
	reset_state();
	bug_armed = batch;
	while (fgets(line, sizeof(line), in)) {
		static int skipping;
		static char first[16];

		lineno++;
		if (skipping) {
			/* after a BUG: nothing until the next script */
			if (sscanf(line, "%15s", first) != 1 || strcmp(first, "reset"))
				continue;
			skipping = 0;
		}
		if (setjmp(bug_env)) {
			skipping = 1;
			continue;
		}
		run_line(line);
		check_arrays();
	}
	fflush(out);
	return 0;
}
