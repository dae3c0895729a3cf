/* The system library is linked as a shared library. This empty archive only
 * fills the worker's link_whole list, which expects a static library here. */
typedef int meetview_empty_translation_unit;
