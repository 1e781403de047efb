"""Who may open each of the dashboard's Stylestore pages (no imports: the app config,
the views and the navigation read it)."""

#: Oscar's dashboard permission model: per view, a list of permissions all needed, or
#: a tuple of such lists of which one suffices. The navigation's ``access_fn`` reads it.
#: Staff only (the pages link to, and poll, Stylestore's admin pages, which are).
PERMISSIONS = {
    "stylestore-styles": ["is_staff", "stylestore.view_style"],
    # Oscar's product list asks for ``catalogue.view_product``; applying a style, for more.
    "stylestore-apply": ["is_staff", "catalogue.view_product", "stylestore.apply_style"],
    "stylestore-progress": ["is_staff", "catalogue.view_product"],
    "stylestore-review": ["is_staff", "stylestore.view_stylizedimage"],
    # What the admin's approve / reject ask for (``api.permissions.CanManageJobs``).
    "stylestore-review-decision": ["is_staff", "stylestore.apply_style", "stylestore.change_stylizedimage"],
    # The admin's analytics page asks for the same: the report is built from the events.
    "stylestore-analytics": ["is_staff", "stylestore.view_styleevent"],
}
