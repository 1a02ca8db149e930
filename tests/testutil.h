/* testutil.h — helpers shared by the test programs: reference files and tensor comparison. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Absolute path of REL inside the reference material (../shared by default, or $CLIPLAB_SHARED). */
char *tu_shared_path (const char *rel);

/* A scratch directory removed at exit. */
const char *tu_tmpdir (void);

/* Removes PATH and everything under it, without following symbolic links; best effort, silent.
 * Needs no g_test_init (the fuzzing harnesses use it too). */
void tu_remove_tree (const char *path);

/* Compares N floats; fails the test, naming WHAT, the max |diff|, its index and the values, when
 * max |got − want| > tol × max |want| (relative to the tensor's magnitude, as the golden README states).
 * Returns the relative max error measured. */
double tu_assert_close_rel (const char *what, const float *got, const float *want, int64_t n, double tol);
/* The same with an absolute tolerance. */
double tu_assert_close_abs (const char *what, const float *got, const float *want, int64_t n, double tol);

/* Writes LEN bytes to PATH or fails the test. */
void tu_write_file (const char *path, const void *data, size_t len);

/* The folder NAME in the scratch directory, made with its parents (it may exist already). */
char *tu_make_dir (const char *name);
/* Writes TEXT to DIR/NAME, making the folders NAME names (NAME may be "test/nshards.txt"). */
void  tu_write_text (const char *dir, const char *name, const char *text);
