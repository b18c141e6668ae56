"""Bundle version bumps for changes made through the ORM (admin, staff pages, shell).

Here: community edits of bundle fields (Community.save() marks them), quarantines, issuer
keys and passes whose revoked state changes. Models never import services: the bumps are
made here. Bulk queryset updates bypass signals: code doing them must
call bundlesvc.bump() itself (the staff views do).
"""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import bundlesvc
from .models import Community, IssuerKey, Pass, Quarantine


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
def _lists_changed(sender, instance, **kwargs):
    bundlesvc.bump(instance.community_id)


@receiver(post_save, sender=Pass)
def _pass_saved(sender, instance, created, **kwargs):
    # before: False for a new pass; None when unknown (an instance not loaded from the
    # database), which counts as changed
    before = False if created else getattr(instance, "_loaded_revoked", None)
    if before != instance.revoked:
        bundlesvc.bump(instance.community_id)
    instance._loaded_revoked = instance.revoked


@receiver(post_delete, sender=Pass)
def _pass_deleted(sender, instance, **kwargs):
    if instance.revoked:
        bundlesvc.bump(instance.community_id)
