//! Where a VirtualService's spec is in the plugin config, for the field paths of errors: the
//! config is either one bare spec or a list of named VirtualServices.

use crate::error::FieldPath;
use crate::virtual_service::RouterConfig;

/// Where the spec of VirtualService `index` is, for error paths.
pub(super) fn spec_path(config: &RouterConfig, index: usize) -> FieldPath {
    if config.is_bare_spec() {
        FieldPath::root()
    } else {
        FieldPath::root()
            .field("virtualServices")
            .index(index)
            .field("spec")
    }
}
