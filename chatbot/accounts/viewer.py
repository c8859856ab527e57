"""Who is asking, as the access rules see them, and the one place those rules are written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatbot.accounts.accounts import User


@dataclass(frozen=True)
class Viewer:
    """Who is asking, and the one place the access rules are written: what they may read,
    change, share, cancel and manage. `name` None: accounts are off, and the one
    anonymous owner (`key`, a browser) may read and change every collection."""

    key: str
    name: str | None = None
    admin: bool = False

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.key, user.name, user.admin)

    def can_read(self, owner: str | None, shared: bool) -> bool:
        return self.name is None or shared or self.can_change(owner)

    def can_change(self, owner: str | None) -> bool:
        """Add to or delete a collection. One without an owner (made by the operator with
        `rag`, or before accounts) belongs to the admins."""
        if self.name is None:
            return True
        if owner is None:
            return self.admin
        return owner.lower() == self.name.lower()

    def can_share(self) -> bool:
        """Share a collection with every user: an admin, with accounts on (off, every
        collection is everyone's already)."""
        return self.name is not None and self.admin

    def can_manage_models(self) -> bool:
        """Pull a model, or switch the one the server has loaded (which every conversation
        shares): anyone with accounts off, an admin with them on."""
        return self.name is None or self.admin

    def can_cancel(self, job_owner: str) -> bool:
        """Cancel an ingestion job started by `job_owner` (a Viewer key): one's own; an
        admin's, anyone's."""
        return job_owner == self.key or self.sees_all_jobs()

    def can_use_preset(self, owner: str, shared: bool) -> bool:
        """Start a conversation from a preset: one's own, or a shared one."""
        return shared or owner == self.key

    def can_edit_preset(self, owner: str, shared: bool) -> bool:
        """Change or delete a preset: one's own; a shared one, which every user starts
        from, only an admin (accounts off: the one local owner)."""
        if shared:
            return self.name is None or self.admin
        return owner == self.key

    def sees_all_jobs(self) -> bool:
        return self.name is not None and self.admin

    def default_collection(self, configured: str) -> str:
        """Accounts off: RAG_COLLECTION. On: the user's own `<name>-docs`, so that nobody's
        first upload takes the name everyone else's page preselects."""
        return configured if self.name is None else f"{self.name.lower()}-docs"

    @property
    def collection_owner(self) -> str | None:
        """The owner recorded on a collection this viewer creates."""
        return self.name
