//! The seam with capnp-rust's `private::layout` builder API: raw pointer and struct builders for
//! structs whose layout is known only from a run-time schema. No `unsafe` here: the layout
//! builders bounds-check every write against the sizes the struct or list was allocated with.

use capnp::private::layout::{PointerBuilder, StructBuilder, StructReader, StructSize};
use capnp::traits::{FromPointerBuilder, HasStructSize, IntoInternalStructReader, SetterInput};

/// The pointer builder behind an `any_pointer::Builder` or a message root.
pub(super) struct RawPointer<'a>(pub(super) PointerBuilder<'a>);

impl<'a> FromPointerBuilder<'a> for RawPointer<'a> {
    fn init_pointer(mut builder: PointerBuilder<'a>, _length: u32) -> Self {
        if !builder.is_null() {
            builder.clear();
        }
        RawPointer(builder)
    }

    fn get_from_pointer(
        builder: PointerBuilder<'a>,
        _default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(RawPointer(builder))
    }
}

/// Marker for an element of a struct list allocated with a run-time size. Its declared size is
/// zero words, so `struct_list::Builder::<ListElement>::get_from_pointer` accepts any existing
/// list as it is (never copies it to a larger layout), and each element's builder carries the
/// list's real data and pointer sizes.
pub(super) struct ListElement(());

/// Builder of a [`ListElement`]: the raw struct builder.
pub(super) struct ElementBuilder<'a>(pub(super) StructBuilder<'a>);

/// Reader of a [`ListElement`] (required by the traits; the encoder never reads through it).
#[derive(Clone, Copy)]
pub(super) struct ElementReader<'a>(StructReader<'a>);

impl<'a> From<StructBuilder<'a>> for ElementBuilder<'a> {
    fn from(builder: StructBuilder<'a>) -> Self {
        Self(builder)
    }
}

impl HasStructSize for ElementBuilder<'_> {
    const STRUCT_SIZE: StructSize = StructSize {
        data: 0,
        pointers: 0,
    };
}

impl<'a> From<StructReader<'a>> for ElementReader<'a> {
    fn from(reader: StructReader<'a>) -> Self {
        Self(reader)
    }
}

impl<'a> IntoInternalStructReader<'a> for ElementReader<'a> {
    fn into_internal_struct_reader(self) -> StructReader<'a> {
        self.0
    }
}

impl SetterInput<ListElement> for ElementReader<'_> {
    fn set_pointer_builder(
        mut builder: PointerBuilder<'_>,
        input: Self,
        canonicalize: bool,
    ) -> capnp::Result<()> {
        builder.set_struct(&input.0, canonicalize)
    }
}

impl capnp::introspect::Introspect for ListElement {
    fn introspect() -> capnp::introspect::Type {
        <capnp::any_pointer::Owned as capnp::introspect::Introspect>::introspect()
    }
}

impl capnp::traits::OwnedStruct for ListElement {
    type Reader<'a> = ElementReader<'a>;
    type Builder<'a> = ElementBuilder<'a>;
}
