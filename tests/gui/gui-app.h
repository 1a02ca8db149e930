/* gui-app.h — runs the real ClipLab application under the GUI test driver (gui-driver.c: the
 * application's code with a scripted driver as its main ()) and reads back its reports; shared by the
 * GUI tests and the GUI latency benchmark (tests/bench/bench-gui-latency.c).
 *
 * The driver is the one named by $CLIPLAB_GUI_DRIVER; screenshots go to $CLIPLAB_SCREENSHOT_DIR.  Each
 * run gets a clean environment: settings in memory, its own configuration, cache and data folders,
 * the Cairo renderer on X11, the C locale, criticals fatal and one OpenBLAS thread. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  GPtrArray *reports;            /* JsonNode *, one per step, then the final {"done": …} */
  char *stderr_text;
  gint64 spawn_time;             /* g_get_real_time () just before the application started */
} AppRun;

/* Reads the environment; FALSE when the application cannot run here (no $CLIPLAB_GUI_DRIVER,
 * $CLIPLAB_SCREENSHOT_DIR or X display).  Creates the screenshot folder. */
gboolean    app_run_setup (void);
/* Adds the one test SUITE/skipped, which says what the GUI tests need: for a run where they cannot run. */
void        app_run_add_skipped (const char *suite);
const char *app_run_screenshot_dir (void);
/* Whether each report is logged with g_test_message () (the default; benchmarks turn it off). */
void        app_run_set_logging (gboolean log);

/* Runs the application with ARGS (may be NULL) under the driver with the script STEPS (the
 * contents of a JSON array; the step names are the rows of gui-driver.c's table), with ENV overrides ("NAME=value", NULL-terminated; may be NULL).  RUN
 * names the script (RUN.json) and the run's folders (RUN.home/) under tu_tmpdir ().  Fails the
 * test unless the script ran to its end with status 0 and nothing was logged as a warning or
 * critical. */
AppRun     *app_run (const char *run, const char *const *args, const char *steps, const char *const *env);
void        app_run_free (AppRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AppRun, app_run_free)

/* The main loop's latency while a job runs, from a report's "latency" (gui-latency-monitor.h):
 * the target is 50 ms; the bound on the worst case leaves room for a loaded two-core machine, where
 * other processes take the CPU from the application now and then. */
#define RESPONSIVE_P99_MS 50.0
#define RESPONSIVE_MAX_MS 120.0

/* Logs the latency in REPORT, measured while WHAT ran, and fails the test beyond the bounds. */
void        assert_responsive (JsonObject *report, const char *what);

/* The report of step INDEX (aborts when there is none). */
JsonObject *step (AppRun *run, int index);
/* A string member that must exist; NULL when it is JSON null. */
const char *member_string (JsonObject *object, const char *member);
/* A JSON string literal for TEXT. */
char       *q (const char *text);

/* The sample folder of the GUI tests: the golden images (GOLDEN_SAMPLE_IMAGES of them, names in
 * golden_sample_images, NULL-terminated) and an unreadable "broken.png", copied into
 * tu_tmpdir ()/"Sample Images"; returns that folder. */
#define GOLDEN_SAMPLE_IMAGES 10
extern const char *const golden_sample_images[GOLDEN_SAMPLE_IMAGES + 1];
char       *make_sample_folder (void);
void        copy_file (const char *from, const char *to);

G_END_DECLS
