/* cl-self-test.h — a scripted run of the real application, for the GUI tests and benchmarks.
 *
 * `cliplab --self-test SCRIPT.json` runs the steps of SCRIPT ({"output-dir": DIR, "steps": [{"do":
 * ACTION, …}, …]}) inside the application once its window is shown: opening folders, selecting
 * images, typing class names into the real text view, loading models through the model dialog,
 * waiting for the worker, reading back what the widgets display and saving screenshots.  Each step
 * prints one JSON object on standard output; the test program asserts on them.
 *
 * Every report also holds "start_us" and "wall_us" (real time when the step started and ended) and
 * "latency": how long the main loop kept events waiting during the step (cl-latency-monitor.h:
 * "max_ms", "p99_ms", "max_block_ms", "n_samples").  "wait-first-frame" reports "first_frame_us",
 * when the window's first frame was painted; "view" ends once the view has been painted;
 * "wait-grid" and "wait-visible-thumbnails" end at the frame in which the Browse grid shows items,
 * and shows every visible item's thumbnail.
 * "press-keys" delivers an accelerator ("<Shift>F10") to the shortcuts of the focused widget and its
 * ancestors as GTK does, "focus-grid" focuses the Browse grid's selected item, "activate-menu-item"
 * chooses an item of the context menu that is open, and "shortcuts" lists the application's
 * accelerators and what the shortcuts window shows. */
#pragma once

#include "cl-window.h"

G_BEGIN_DECLS

typedef void (*ClSelfTestDone) (int status, gpointer user_data);

void cl_self_test_run (GtkApplication *application, ClWindow *window, const char *script_path,
                       ClSelfTestDone done, gpointer user_data);

G_END_DECLS
