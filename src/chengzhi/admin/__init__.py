"""Administrators' pages under /staff/admin: units and their areas, categories, users and roles.

They write through the domains' service functions (org.service, categories.service), so that a page and the API
apply the same rules; form errors come back next to their field, in the page's language.
"""
