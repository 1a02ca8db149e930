/* clip-json.h — the library's results as JSON (json-glib), so that the CLI's output and the training
 * log share one schema.  A separate header because clip.h itself needs only GLib. */
#pragma once

#include <json-glib/json-glib.h>

#include "clip.h"

G_BEGIN_DECLS

/* Adds "image_to_text": {"R@1", "R@5", "R@10"} and "text_to_image": {…} (fractions; "R@K" for each
 * K the metrics hold) to the object BUILDER is building. */
void clip_json_add_retrieval (JsonBuilder *builder, const ClipRetrievalMetrics *metrics);
/* Adds "zero_shot": {"top1", "top5"} (fractions) and leaves that object open, for the caller to add
 * more members (the CLI's per_class and confusion) and end it. */
void clip_json_begin_zero_shot (JsonBuilder *builder, double top1, double top5);

G_END_DECLS
