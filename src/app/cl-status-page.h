/* cl-status-page.h — an empty or error state: big dim icon, title, description, one action. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CL_TYPE_STATUS_PAGE (cl_status_page_get_type ())
G_DECLARE_FINAL_TYPE (ClStatusPage, cl_status_page, CL, STATUS_PAGE, GtkWidget)

void cl_status_page_set_icon_name (ClStatusPage *self, const char *icon_name);
void cl_status_page_set_title (ClStatusPage *self, const char *title);
void cl_status_page_set_description (ClStatusPage *self, const char *description);
/* A widget below the description (typically a button); replaces the previous one. */
void cl_status_page_set_child (ClStatusPage *self, GtkWidget *child);

G_END_DECLS
