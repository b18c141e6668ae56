"""Bundle version bumps for changes made through the ORM (admin, staff pages, shell).

Here: community edits of bundle fields (Community.save() marks them), quarantines, home
isolations, issuer keys, passes whose revoked state changes and new passes of an isolated
person. Models never import services: the bumps are
made here. Bulk queryset updates bypass signals: code doing them must
call bundlesvc.bump() itself (the staff views do).
"""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import bundlesvc
from .models import Community, IssuerKey, Isolation, Pass, Quarantine


@receiver(post_save, sender=Community)
def _community_saved(sender, instance, **kwargs):
    if getattr(instance, "_bundle_changed", False):
        instance._bundle_changed = False
        bundlesvc.bump(instance.pk)
        instance.bundle_version = Community.objects.values_list("bundle_version", flat=True).get(pk=instance.pk)


@receiver(post_save, sender=Quarantine)
@receiver(post_delete, sender=Quarantine)
@receiver(post_save, sender=IssuerKey)
@receiver(post_delete, sender=IssuerKey)
@receiver(post_save, sender=Isolation)
@receiver(post_delete, sender=Isolation)
def _lists_changed(sender, instance, **kwargs):
    bundlesvc.bump(instance.community_id)


@receiver(post_save, sender=Pass)
def _pass_saved(sender, instance, created, **kwargs):
    # before: False for a new pass; None when unknown (an instance not loaded from the
    # database), which counts as changed
    before = False if created else getattr(instance, "_loaded_revoked", None)
    if before != instance.revoked:
        bundlesvc.bump(instance.community_id)
    elif created and instance.person_id is not None and Isolation.objects.filter(
            person_id=instance.person_id, released_at__isnull=True).exists():
        bundlesvc.bump(instance.community_id)  # a new pass of an isolated person: list it too
    instance._loaded_revoked = instance.revoked


@receiver(post_delete, sender=Pass)
def _pass_deleted(sender, instance, **kwargs):
    if instance.revoked:
        bundlesvc.bump(instance.community_id)
