/*
 * The PCAP spool: file names, the deletion policy (table-driven: oldest
 * first, never the newest finished file, never a file being written, both
 * limits and the reserve for the next file), enforcement on a real
 * directory, sequence numbers under the lock, and crash recovery (a cut
 * last record, an empty file, a file still locked by its writer, an index
 * without its capture, an index with a corrupt block among the newest files,
 * and in a large spool, an older index's corrupt block left to the query
 * while a damaged header is still caught).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "capture/index.h"
#include "capture/pcapfile.h"
#include "capture/spool.h"
#include "capture_test.h"

static const char *in_dir(const char *name, const char *suffix)
{
	static char path[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s%s", test_dir, name, suffix);
	return path[k];
}

static void test_names(void **state)
{
	char name[SPOOL_NAME_MAX];
	struct spool_file f;
	assert_int_equal(spool_name_make(name, sizeof(name), 1795305600, 123, 0), 0);
	assert_string_equal(name, "sinktrap-20261122T000000Z-0000000123.pcap");
	assert_int_equal(spool_name_parse(name, &f), 0);
	assert_int_equal(f.seq, 123);
	assert_int_equal(f.created, 1795305600);
	assert_false(f.part);
	assert_false(f.pcapng);

	assert_int_equal(spool_name_make(name, sizeof(name), 0, 4294967295u, 1), 0);
	strcat(name, ".part");
	assert_int_equal(spool_name_parse(name, &f), 0);
	assert_int_equal(f.seq, 4294967295u);
	assert_true(f.part);
	assert_true(f.pcapng);
	assert_string_equal(f.name, "sinktrap-19700101T000000Z-4294967295.pcapng");

	static const char *const bad[] = {
	    "",
	    ".lock",
	    "sinktrap-20261122T000000Z-0000000123.pcap.idx",
	    "sinktrap-20261122T000000Z-0000000123.pcap.idx.tmp",
	    "sinktrap-20261122T000000Z-000000012.pcap",
	    "sinktrap-20261122T000000Z-0000000000.pcap",
	    "sinktrap-20261122X000000Z-0000000123.pcap",
	    "other-20261122T000000Z-0000000123.pcap",
	    "sinktrap-20261122T000000Z-0000000123.pcapx",
	    "sinktrap-20261122T000000Z-9999999999.pcap",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(spool_name_parse(bad[i], &f), -EINVAL);
}

/* ---- the policy, table-driven ---- */

#define MB (1ull << 20)

struct plan_case {
	const char *what;
	const char
	    *files;    /* one char per file, oldest first: 'f' finished, 'p' being written */
	uint64_t size; /* of each file */
	uint64_t max_disk;
	int min_free;
	uint64_t reserve, fs_total, fs_avail;
	const char *want; /* per file: '.' kept, 'd' deleted for max_disk, 'f' for min_free */
};

static const struct plan_case plan_cases[] = {
    {"no limits", "ffff", 10 * MB, 0, 0, 10 * MB, 0, 0, "...."},
    {"under max_disk", "ffff", 10 * MB, 100 * MB, 0, 10 * MB, 0, 0, "...."},
    {"over by one file: the oldest goes", "fffff", 10 * MB, 50 * MB, 0, 10 * MB, 0, 0, "d...."},
    {"far over: oldest first, never the newest", "fffff", 10 * MB, 5 * MB, 0, 10 * MB, 0, 0,
     "dddd."},
    {"a file being written is never deleted", "fpfff", 10 * MB, 30 * MB, 0, 10 * MB, 0, 0,
     "d.dd."},
    {"the newest finished stays though a newer one is being written", "ffffp", 10 * MB, 1 * MB,
     0, 10 * MB, 0, 0, "ddd.."},
    {"only files being written", "ppp", 10 * MB, 1 * MB, 0, 10 * MB, 0, 0, "..."},
    {"the reserve counts", "ffff", 10 * MB, 40 * MB, 0, 1 * MB, 0, 0, "d..."},
    {"min_free met", "ffff", 10 * MB, 0, 10, 10 * MB, 1000 * MB, 500 * MB, "...."},
    {"min_free: free the shortfall, oldest first", "ffff", 10 * MB, 0, 10, 10 * MB, 1000 * MB,
     95 * MB, "ff.."},
    {"min_free cannot be met: all but the newest", "ffff", 10 * MB, 0, 50, 10 * MB, 1000 * MB,
     10 * MB, "fff."},
    {"min_free without file system numbers is not applied", "ffff", 10 * MB, 0, 10, 10 * MB, 0,
     0, "...."},
    {"both limits: max_disk first", "ffff", 10 * MB, 30 * MB, 10, 10 * MB, 1000 * MB, 85 * MB,
     "ddf."},
    {"empty spool", "", 10 * MB, 1, 10, 10 * MB, 1000 * MB, 0, ""},
};

static void test_plan(void **state)
{
	for (size_t c = 0; c < sizeof(plan_cases) / sizeof(plan_cases[0]); c++) {
		const struct plan_case *pc = &plan_cases[c];
		size_t n = strlen(pc->files);
		struct spool_file files[16];
		uint8_t del[16];
		struct spool_limits lim = {pc->max_disk, pc->min_free};
		memset(files, 0, sizeof(files));
		for (size_t i = 0; i < n; i++) {
			files[i].seq = (uint32_t)(i + 1);
			files[i].size = pc->size;
			files[i].part = pc->files[i] == 'p';
		}
		size_t got =
		    spool_plan(files, n, &lim, pc->reserve, pc->fs_total, pc->fs_avail, del);
		char result[17];
		size_t count = 0;
		for (size_t i = 0; i < n; i++) {
			result[i] = del[i] == SPOOL_KEEP           ? '.'
			            : del[i] == SPOOL_DEL_MAX_DISK ? 'd'
			                                           : 'f';
			count += del[i] != SPOOL_KEEP;
		}
		result[n] = '\0';
		if (strcmp(result, pc->want) || got != count)
			fail_msg("%s: got %s (%zu), want %s", pc->what, result, got, pc->want);
	}
}

/* ---- on a directory ---- */

static void make_file(const char *name, size_t size)
{
	int fd = open(in_dir(name, ""), O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

struct deleted_log {
	char names[16][SPOOL_NAME_MAX];
	int n;
};

static void on_deleted(void *arg, const struct spool_file *f, const char *reason)
{
	struct deleted_log *l = arg;
	assert_string_equal(reason, "max_disk");
	snprintf(l->names[l->n++], SPOOL_NAME_MAX, "%s", f->name);
}

static void test_enforce(void **state)
{
	char name[SPOOL_NAME_MAX];
	/* sequence, not time, decides what is old: file 3 claims the oldest time */
	const int64_t times[] = {2000, 3000, 1000, 4000, 5000};
	for (int i = 0; i < 5; i++) {
		spool_name_make(name, sizeof(name), times[i], (uint32_t)(i + 1), 0);
		make_file(name, 100000);
		if (i != 4) {
			char idx[SPOOL_NAME_MAX + 8];
			snprintf(idx, sizeof(idx), "%s.idx", name);
			make_file(idx, 1000);
		}
	}
	make_file("notes.txt", 5000000); /* not ours: neither counted nor touched */
	struct spool_file *files;
	size_t n;
	assert_int_equal(spool_list(test_dir, &files, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(files[i].seq, i + 1);
		assert_int_equal(files[i].size, i == 4 ? 100000 : 101000);
		assert_int_equal(files[i].indexed, i != 4);
	}
	free(files);

	struct spool_limits lim = {360000, 0};
	struct deleted_log log = {.n = 0};
	assert_int_equal(spool_enforce(test_dir, &lim, 50000, on_deleted, &log), 2);
	assert_int_equal(log.n, 2);
	spool_name_make(name, sizeof(name), 2000, 1, 0);
	assert_string_equal(log.names[0], name);
	assert_int_equal(access(in_dir(name, ""), F_OK), -1);
	assert_int_equal(access(in_dir(name, ".idx"), F_OK), -1);
	spool_name_make(name, sizeof(name), 3000, 2, 0);
	assert_string_equal(log.names[1], name);
	spool_name_make(name, sizeof(name), 1000, 3, 0);
	assert_int_equal(access(in_dir(name, ""), F_OK), 0);
	assert_int_equal(access(in_dir("notes.txt", ""), F_OK), 0);

	/* a tiny quota still keeps the newest */
	lim.max_disk = 1;
	log.n = 0;
	assert_int_equal(spool_enforce(test_dir, &lim, 0, on_deleted, &log), 2);
	assert_int_equal(spool_list(test_dir, &files, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(files[0].seq, 5);
	free(files);
}

struct notes {
	int n;
	char last[512];
	char all[4096]; /* every note, a line each */
};

static void on_note(void *arg, const char *name, const char *what)
{
	struct notes *nt = arg;
	nt->n++;
	snprintf(nt->last, sizeof(nt->last), "%s: %s", name, what);
	size_t len = strlen(nt->all);
	snprintf(nt->all + len, sizeof(nt->all) - len, "%s\n", nt->last);
}

static int flow_ok(void *arg, const struct index_flow *fl, const uint64_t *offsets)
{
	(void)arg;
	(void)fl;
	(void)offsets;
	return 0;
}

/* Whether a note of recovery begins with the name of f and then says what. */
static int noted(const struct notes *nt, const struct spool_file *f, const char *what)
{
	char line[600];
	snprintf(line, sizeof(line), "%s: %s", f->name, what);
	return strstr(nt->all, line) != NULL;
}

static void read_ids_file(char *text, size_t size)
{
	FILE *f = fopen(in_dir(SPOOL_IDS_FILE, ""), "r");
	assert_non_null(f);
	size_t n = fread(text, 1, size - 1, f);
	text[n] = '\0';
	fclose(f);
}

/* Blocks of flow ids: never twice, from the floor up, one counter, kept on disk. */
static void test_take_ids(void **state)
{
	uint64_t a, b, c, d;
	char text[128];
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 1000, 100, &a), 0);
	assert_int_equal(a, 1000);
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 1000, 100, &b), 0);
	assert_int_equal(b, 1100); /* the floor again: after the first block */
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 50, 10, &c), 0);
	assert_int_equal(c, 1200); /* a lower floor (another run's clock): still after */
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 5000, 100, &d), 0);
	assert_int_equal(d, 5000); /* a later floor (time moved on) wins */
	read_ids_file(text, sizeof(text));
	assert_string_equal(text, "capture 5100\ningest 5100\n");
	assert_int_equal(access(in_dir(SPOOL_IDS_FILE, ".tmp"), F_OK), -1);
	/* A spool from when the worker and ingest counted apart: past both. */
	FILE *f = fopen(in_dir(SPOOL_IDS_FILE, ""), "w");
	fputs("capture 9000\ningest 2251799813685300\n", f);
	fclose(f);
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 7000, 10, &a), 0);
	assert_int_equal(a, 2251799813685300ull);
	read_ids_file(text, sizeof(text));
	assert_string_equal(text, "capture 2251799813685310\ningest 2251799813685310\n");
	/* a damaged file: the floor rules, and the file is written whole again */
	f = fopen(in_dir(SPOOL_IDS_FILE, ""), "w");
	fputs("capture x\n", f);
	fclose(f);
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 7, 3, &a), 0);
	assert_int_equal(a, 7);
	assert_int_equal(spool_take_ids(test_dir, (uid_t)-1, (gid_t)-1, 7, 3, &a), 0);
	assert_int_equal(a, 10);
	assert_int_equal(
	    spool_take_ids("/nonexistent-sinktrap-dir", (uid_t)-1, (gid_t)-1, 7, 3, &a),
	    -ENOENT);
	unlink(in_dir(SPOOL_IDS_FILE, ""));
}

static void test_create_sequence(void **state)
{
	struct spool_file a, b;
	char name[SPOOL_NAME_MAX];
	spool_name_make(name, sizeof(name), 100, 41, 0);
	make_file(name, 10);
	int fa = spool_create(test_dir, 200, 0, (uid_t)-1, (gid_t)-1, 0, &a);
	assert_true(fa >= 0);
	int fb = spool_create(test_dir, 100, 1, (uid_t)-1, (gid_t)-1, 0, &b);
	assert_true(fb >= 0);
	assert_int_equal(a.seq, 42);
	assert_int_equal(b.seq, 43); /* the part file counts too */
	assert_true(b.pcapng);
	assert_int_equal(access(in_dir(a.name, ".part"), F_OK), 0);
	assert_int_equal(access(in_dir(a.name, ""), F_OK), -1);

	/* a locked part file is left alone by recovery */
	struct notes nt = {0, "", ""};
	int got = spool_recover(test_dir, NULL, on_note, &nt);
	if (got != 0) /* file 41 is no capture: not indexed, said so */
		fail_msg("recovered %d: %s", got, nt.last);
	assert_non_null(strstr(nt.last, "could not be indexed"));
	assert_int_equal(access(in_dir(a.name, ".part"), F_OK), 0);
	close(fa);
	close(fb);
	/* unlocked and empty now: removed */
	assert_int_equal(spool_recover(test_dir, NULL, NULL, NULL), 2);
	assert_int_equal(access(in_dir(a.name, ".part"), F_OK), -1);
	assert_int_equal(access(in_dir(b.name, ".part"), F_OK), -1);
}

/* A part file that is no capture at all is left as it is, said so; one with nothing in it
 * (the writer died before the header) goes. */
static void test_recover_not_a_capture(void **state)
{
	struct spool_file a, b;
	int fa = spool_create(test_dir, 300, 0, (uid_t)-1, (gid_t)-1, 0, &a);
	assert_true(fa >= 0);
	static const char junk[64] = "this is not a capture file, whatever its name says";
	assert_int_equal(write(fa, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fa);
	int fb = spool_create(test_dir, 301, 0, (uid_t)-1, (gid_t)-1, 0, &b);
	assert_true(fb >= 0);
	close(fb);
	struct notes nt = {0, "", ""};
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 1);
	assert_int_equal(access(in_dir(a.name, ".part"), F_OK), 0);
	assert_int_equal(access(in_dir(b.name, ".part"), F_OK), -1);
	assert_int_equal(nt.n, 2);
	assert_non_null(strstr(nt.all, "left unrecovered: not a pcap or pcapng file"));
	assert_non_null(strstr(nt.all, "removed: nothing was written to it"));
	unlink(in_dir(a.name, ".part"));
}

static void test_recover(void **state)
{
	NEED_PCAP("honeynet_fc2010-1_attack-trace.pcap");
	struct spool_file f;
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	struct pcapfile_writer *w;
	char err[256];
	int fd = spool_create(test_dir, 1000, 0, (uid_t)-1, (gid_t)-1, 0, &f);
	assert_true(fd >= 0);
	assert_int_equal(pcapfile_writer_open(&w, fd, PCAPFILE_PCAP, 1, 0, err, sizeof(err)),
	                 0);
	assert_int_equal(
	    pcapfile_reader_open_path(&r, pcap_path("honeynet_fc2010-1_attack-trace.pcap"), err,
	                              sizeof(err)),
	    0);
	long n = 0;
	while (pcapfile_reader_next(r, &p) == 1) {
		assert_int_equal(
		    pcapfile_writer_write(w, p.ts_ns, p.data, p.caplen, p.origlen, NULL), 0);
		n++;
	}
	pcapfile_reader_close(&r);
	uint64_t full = pcapfile_writer_offset(w);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	/* the writer dies in the middle of a record (and its lock goes with it) */
	assert_int_equal(write(fd, "\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9), 9);
	close(fd);
	/* and an index whose capture is gone */
	make_file("sinktrap-19700101T000000Z-0000000001.pcap.idx", 64);

	struct notes nt = {0, "", ""};
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 1);
	assert_int_equal(nt.n, 1);
	assert_non_null(strstr(nt.last, "9 bytes of an unfinished record cut"));
	struct stat st;
	assert_int_equal(stat(in_dir(f.name, ""), &st), 0);
	assert_int_equal((uint64_t)st.st_size, full);
	assert_int_equal(access(in_dir(f.name, ".part"), F_OK), -1);
	assert_int_equal(
	    access(in_dir("sinktrap-19700101T000000Z-0000000001.pcap.idx", ""), F_OK), -1);
	struct index_reader *ir;
	struct index_info info;
	assert_int_equal(index_reader_open(&ir, in_dir(f.name, ".idx"), err, sizeof(err)), 0);
	index_reader_info(ir, &info);
	assert_int_equal(info.pcap_size, full);
	assert_int_equal(info.npkts, n);
	assert_true(info.flags & INDEX_F_REBUILT);
	index_reader_close(&ir);

	/* an index that does not cover its file is made again */
	assert_int_equal(truncate(in_dir(f.name, ""), 24), 0);
	nt.n = 0;
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 1);
	assert_non_null(strstr(nt.last, "indexed again"));
	/* nothing left to do */
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 0);
}

#define ATTACK "honeynet_fc2010-1_attack-trace.pcap"

/* A finished file of the attack trace's packets, indexed (a rescan): its
 * description in *f, its packets in *n. */
static void attack_file(struct spool_file *f, long *n)
{
	struct pcapfile_reader *r;
	struct pcapfile_pkt p;
	struct pcapfile_writer *w;
	char err[256];
	int fd = spool_create(test_dir, 1000, 0, (uid_t)-1, (gid_t)-1, 0, f);
	assert_true(fd >= 0);
	assert_int_equal(pcapfile_writer_open(&w, fd, PCAPFILE_PCAP, 1, 0, err, sizeof(err)),
	                 0);
	assert_int_equal(pcapfile_reader_open_path(&r, pcap_path(ATTACK), err, sizeof(err)), 0);
	*n = 0;
	while (pcapfile_reader_next(r, &p) == 1) {
		assert_int_equal(
		    pcapfile_writer_write(w, p.ts_ns, p.data, p.caplen, p.origlen, NULL), 0);
		(*n)++;
	}
	pcapfile_reader_close(&r);
	uint64_t size = pcapfile_writer_offset(w);
	assert_int_equal(pcapfile_writer_close(&w), 0);
	if (spool_publish(test_dir, f, NULL, size, NULL, err, sizeof(err)) < 0)
		fail_msg("%s: %s", f->name, err);
	close(fd);
	f->part = 0;
}

/* Flip a byte of the index of f (at off from its end when off < 0). */
static void flip_index_byte(const struct spool_file *f, off_t off)
{
	int fd = open(in_dir(f->name, ".idx"), O_RDWR);
	assert_true(fd >= 0);
	if (off < 0)
		off += lseek(fd, 0, SEEK_END);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x55;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* Whether the index of f opens (header and block table) and every block of it
 * decodes. */
static int index_sound(const struct spool_file *f, long npkts)
{
	struct index_reader *ir;
	struct index_info info;
	char err[256];
	assert_int_equal(index_reader_open(&ir, in_dir(f->name, ".idx"), err, sizeof(err)), 0);
	index_reader_info(ir, &info);
	assert_int_equal(info.npkts, npkts);
	int rc = index_reader_foreach(ir, flow_ok, NULL);
	index_reader_close(&ir);
	return rc == 0;
}

/* An index whose header and block table are sound but a block is not (its
 * zlib check fails), in one of the newest SPOOL_RECOVER_DEEP finished files
 * (those the last run was finishing when it stopped, every block of whose
 * index recovery inflates): made again at recovery. Here the oldest of them,
 * behind a file left unfinished (recovered, not counted among them). */
static void test_recover_corrupt_index(void **state)
{
	NEED_PCAP(ATTACK);
	struct spool_file f[SPOOL_RECOVER_DEEP], part;
	long n;
	char err[256];
	for (int i = 0; i < SPOOL_RECOVER_DEEP; i++)
		attack_file(&f[i], &n);
	int fd = spool_create(test_dir, 1000, 0, (uid_t)-1, (gid_t)-1, 0, &part);
	assert_true(fd >= 0);
	close(fd); /* nothing written: removed by recovery */
	assert_true(index_sound(&f[0], n));

	flip_index_byte(&f[0], -1); /* the last block's Adler-32 */
	struct index_reader *ir;
	assert_int_equal(index_reader_open(&ir, in_dir(f[0].name, ".idx"), err, sizeof(err)),
	                 0);
	index_reader_close(&ir); /* it opens: only its block is bad */
	assert_false(index_sound(&f[0], n));

	struct notes nt = {0, "", ""};
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 2);
	assert_int_equal(nt.n, 2);
	assert_true(noted(&nt, &f[0], "indexed again (its index is corrupt: "));
	assert_true(noted(&nt, &part, "removed: nothing was written to it"));
	assert_true(index_sound(&f[0], n));
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 0);
}

/*
 * A spool of many finished files: recovery reads every index's header and
 * block table, but inflates the blocks of the newest SPOOL_RECOVER_DEEP
 * only. An older index with a bad block is left as it is (a query through it
 * says so and reads the capture instead); an older index whose header is
 * damaged is still made again.
 */
static void test_recover_leaves_old_index_blocks(void **state)
{
	NEED_PCAP(ATTACK);
	enum { N = SPOOL_RECOVER_DEEP + 3 };
	struct spool_file f[N];
	long n;
	for (int i = 0; i < N; i++)
		attack_file(&f[i], &n);
	flip_index_byte(&f[0], -1);                      /* a block, outside the newest */
	flip_index_byte(&f[1], 12);                      /* the header (its CRC fails) */
	flip_index_byte(&f[N - SPOOL_RECOVER_DEEP], -1); /* a block, of the newest */
	struct stat before;
	assert_int_equal(stat(in_dir(f[0].name, ".idx"), &before), 0);

	struct notes nt = {0, "", ""};
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 2);
	assert_int_equal(nt.n, 2);
	assert_true(noted(&nt, &f[1], "indexed again (its index is unreadable: "));
	assert_true(
	    noted(&nt, &f[N - SPOOL_RECOVER_DEEP], "indexed again (its index is corrupt: "));
	assert_true(index_sound(&f[1], n));
	assert_true(index_sound(&f[N - SPOOL_RECOVER_DEEP], n));
	/* left: not rewritten, its bad block still there for the query to find */
	struct stat after;
	assert_int_equal(stat(in_dir(f[0].name, ".idx"), &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_false(index_sound(&f[0], n));
	assert_int_equal(spool_recover(test_dir, NULL, on_note, &nt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test_setup_teardown(test_enforce, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_take_ids, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_create_sequence, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_recover_not_a_capture, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_recover, test_dir_setup, test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_recover_corrupt_index, test_dir_setup,
	                                    test_dir_teardown),
	    cmocka_unit_test_setup_teardown(test_recover_leaves_old_index_blocks,
	                                    test_dir_setup, test_dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
