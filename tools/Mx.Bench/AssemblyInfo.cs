// Mx.Bench: benchmark implementations invoked by `mx bench ...`.
namespace Mx.Bench;
