"""Domain errors every app may raise; defined in the neutral `validation`
package (below accounts) and re-exported here for the existing imports."""

from validation.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, TooLarge, TooMany  # noqa: F401
