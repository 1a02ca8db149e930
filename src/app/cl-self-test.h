/* cl-self-test.h — a scripted run of the real application, for the GUI tests.
 *
 * `cliplab --self-test SCRIPT.json` runs the steps of SCRIPT ({"output-dir": DIR, "steps": [{"do":
 * ACTION, …}, …]}) inside the application once its window is shown: opening folders, selecting
 * images, typing class names into the real text view, loading models through the model dialog,
 * waiting for the worker, reading back what the widgets display and saving screenshots.  Each step
 * prints one JSON object on standard output; the test program asserts on them. */
#pragma once

#include "cl-window.h"

G_BEGIN_DECLS

typedef void (*ClSelfTestDone) (int status, gpointer user_data);

void cl_self_test_run (GtkApplication *application, ClWindow *window, const char *script_path,
                       ClSelfTestDone done, gpointer user_data);

G_END_DECLS
