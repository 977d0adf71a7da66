// XPK-1 ADC-code-to-output digital path of one column tile (spec 4.1, 4.7), LANES columns in parallel:
// the partial-sum adder over the row tiles and the requantiser
//     y = sat_OUT_WIDTH((acc * M + B) >>> S),   acc = sum over row tiles of the ADC codes (ACC_WIDTH bits),
// the product and sum in 64-bit two's complement, >>> arithmetic (floor).
//
// Timing: one row tile's codes per clock with `in_valid`; `first` marks the first row tile (the adder
// starts from 0), `last` the last.  The clock after `last` loads `y_code` and raises `out_valid` for one
// clock: a token of a layer with R row tiles takes R + 1 clocks.  M, B and S are the layer's requantisation constants of the columns of this tile
// (/chip/layers/NN_<layer>/m_code, b_code, attribute s_shift); hold them from `last` until `out_valid`.
`timescale 1ns/1ps
module xpk_colpath #(
    parameter integer LANES = 256,         // columns per tile (tile.cols)
    parameter integer ADC_BITS = 8,
    parameter integer ACC_WIDTH = 32,
    parameter integer M_BITS = 16,         // tile.requant_m_bits
    parameter integer OUT_WIDTH = 16       // lif.width
) (
    input  wire                        clk,
    input  wire                        rst,
    input  wire                        in_valid,
    input  wire                        first,
    input  wire                        last,
    input  wire [LANES*ADC_BITS-1:0]   adc_code,  // lane c at [c*ADC_BITS +: ADC_BITS], signed
    input  wire [LANES*M_BITS-1:0]     m_code,    // signed
    input  wire [LANES*64-1:0]         b_code,    // signed
    input  wire [5:0]                  s_shift,
    output reg                         out_valid,
    output reg  [LANES*OUT_WIDTH-1:0]  y_code     // signed
);
    localparam signed [63:0] HI = (64'sd1 <<< (OUT_WIDTH - 1)) - 64'sd1;
    localparam signed [63:0] LO = -(64'sd1 <<< (OUT_WIDTH - 1));
    reg signed [ACC_WIDTH-1:0] acc [0:LANES-1];
    reg signed [63:0] a64, m64, b64, sum, sh;
    reg [LANES*OUT_WIDTH-1:0] y_next;
    reg pending;
    integer c;
    always @(posedge clk) begin
        if (rst) begin
            pending <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            pending <= in_valid && last;
            out_valid <= pending;
        end
        if (in_valid)  // partial-sum adder: both operands signed, so the code is sign-extended
            for (c = 0; c < LANES; c = c + 1)
                if (first)
                    acc[c] <= $signed(adc_code[c*ADC_BITS +: ADC_BITS]);
                else
                    acc[c] <= acc[c] + $signed(adc_code[c*ADC_BITS +: ADC_BITS]);
        if (pending) begin
            for (c = 0; c < LANES; c = c + 1) begin
                a64 = acc[c];
                m64 = $signed(m_code[c*M_BITS +: M_BITS]);
                b64 = $signed(b_code[c*64 +: 64]);
                sum = a64 * m64 + b64;
                sh = sum >>> s_shift;
                y_next[c*OUT_WIDTH +: OUT_WIDTH] = (sh > HI) ? HI[OUT_WIDTH-1:0] : (sh < LO) ? LO[OUT_WIDTH-1:0]
                                                                                           : sh[OUT_WIDTH-1:0];
            end
            y_code <= y_next;
        end
    end
endmodule
