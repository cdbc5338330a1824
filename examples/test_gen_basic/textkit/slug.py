"""URL slugs from titles."""
import re


def slugify(title, max_length=40):
    """Lower-case words joined by single dashes, at most max_length characters, never
    ending in a dash."""
    slug = re.sub(r"[^a-z0-9]", "-", title.lower())
    return slug[:max_length]
