"""Who may do what through the API.

Reading styles and the visible variants of a product is public: that is what a
storefront shows to every visitor. Everything else is staff work and asks for the
same permissions as the same work in the admin, so granting a role means one thing
everywhere:

- creating or changing a style: ``stylestore.add_style`` / ``stylestore.change_style``
  (the admin's model permissions);
- queueing stylization and reading jobs: ``stylestore.apply_style`` (the permission
  of the admin action "Apply style…");
- retrying, approving or rejecting a job: additionally
  ``stylestore.change_stylizedimage`` (what the admin's retry / approve / reject
  actions on variants require);
- reading the analytics: ``stylestore.view_styleevent`` (what the admin's analytics
  page requires).

Staff status is required on top of the permissions, as in the admin: a permission
granted to a customer account by mistake does not open the staff API. Superusers
hold every permission but still need ``is_staff``, again as in the admin.
"""
from rest_framework.permissions import BasePermission, DjangoModelPermissions


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def can_see_inactive_styles(user) -> bool:
    """Staff who can view or change styles in the admin also see inactive ones."""
    return is_staff(user) and (user.has_perm("stylestore.view_style") or user.has_perm("stylestore.change_style"))


class StaffPermission(BasePermission):
    """An active staff user holding every permission in ``required_permissions``."""

    required_permissions = ()

    def has_permission(self, request, view):
        return is_staff(request.user) and request.user.has_perms(self.required_permissions)


class CanApplyStyles(StaffPermission):
    required_permissions = ("stylestore.apply_style",)


class CanManageJobs(StaffPermission):
    required_permissions = ("stylestore.apply_style", "stylestore.change_stylizedimage")


class CanViewAnalytics(StaffPermission):
    required_permissions = ("stylestore.view_styleevent",)


class StaffModelPermissions(DjangoModelPermissions):
    """DRF's model permissions (POST needs ``add``, PATCH ``change``), for staff only."""

    def has_permission(self, request, view):
        return is_staff(request.user) and super().has_permission(request, view)
